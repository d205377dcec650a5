"""Advice that fits what was seen: failure blocks of real demo faults read as an on-call engineer
reads them (the steps said once, with the target's real host and port, causes the observation does
not rule out, advice for the target's engine, escalation by severity, runbook links), and the pure
tailoring underneath (healthsuite.catalogue.advice)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from healthsuite.assessments.failure import Finding, escalation_line, failure_block, probe_failure
from healthsuite.catalogue.advice import (
    PLATFORMS,
    AdviceContext,
    fill,
    platforms_of,
    tailor_causes,
    tailor_steps,
    url_values,
)
from healthsuite.catalogue.diagnoses import heading_anchor, load_catalogue
from healthsuite.demo.stack import DemoStack
from healthsuite.model.environment import Contact
from healthsuite.probes.errors import ProbeError
from healthsuite.probes.postgres import parts_of as postgres_parts
from tests.conftest import RunChecks
from tests.localhttp import Answer, serving


def _block(message: str, heading: str) -> list[str]:
    """The lines under `heading:` of a failure block (up to the next heading)."""
    lines = message.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(heading))
    block = []
    for line in lines[start + 1:]:
        if re.match(r"^  [a-z ]+:", line):
            break
        block.append(line.strip())
    return block


def _commands(steps: list[str]) -> list[str]:
    return [span for step in steps for span in re.findall(r"`([^`]+)`", step)]


# --- the pure tailoring ------------------------------------------------------------------------------------


def test_steps_are_filled_with_real_values_only_inside_commands() -> None:
    values = {"host": "db.internal", "port": "6543", "name": "www.example.com"}
    text = "Check the HOST first: `pg_isready -h HOST -p PORT`, `openssl s_client -connect <host>:<port> -servername NAME`."
    assert fill(text, values) == ("Check the HOST first: `pg_isready -h db.internal -p 6543`, "
                                  "`openssl s_client -connect db.internal:6543 -servername www.example.com`.")
    assert fill("`redis-cli -h HOST -p PORT ping`", {"host": "cache"}) == "`redis-cli -h cache -p PORT ping`"


def test_a_step_whose_commands_were_all_given_is_left_out_and_tags_choose_by_engine() -> None:
    steps = [
        "Check the server is running: `pg_isready -h HOST -p PORT`, `docker-compose ps postgres`.",
        "Read its logs (`docker-compose logs postgres`).",
        "[postgres] Check the server is up: `pg_isready`, `docker-compose ps postgres`.",
        "[sqlite] List the tables with `.tables`.",
        "[postgres] Read the database logs (`docker-compose logs postgres`) for errors.",
        "See DB2 for the kind of failure.",
        "See DB2 for the kind of failure.",
    ]
    postgres = tailor_steps(steps, AdviceContext(engine="postgres", values={"host": "h", "port": "1"},
                                                 platforms=frozenset({"docker-compose"})))
    assert postgres == ["Check the server is running: `pg_isready -h h -p 1`, `docker-compose ps postgres`.",
                        "Read its logs (`docker-compose logs postgres`).", "See DB2 for the kind of failure."]
    sqlite = tailor_steps(steps, AdviceContext(engine="sqlite"))
    assert "List the tables with `.tables`." in sqlite and not any("[" in s for s in sqlite)
    # no platform declared: no step runs docker-compose, tagged or not
    undeclared = tailor_steps(steps, AdviceContext(engine="postgres"))
    assert undeclared == ["See DB2 for the kind of failure."]


def test_causes_are_kept_only_for_the_failure_kind_they_explain() -> None:
    causes = ["[refused,timeout] Redis is stopped.", "[auth_failed] The password is wrong.", "Redis is overloaded."]
    assert tailor_causes(causes, AdviceContext(failure_kind="refused")) == ["Redis is stopped.", "Redis is overloaded."]
    assert tailor_causes(causes, AdviceContext(failure_kind="auth_failed")) == ["The password is wrong.",
                                                                                "Redis is overloaded."]
    assert len(tailor_causes(causes, AdviceContext())) == 3  # nothing ruled out


def test_only_critical_and_high_failures_call_anyone() -> None:
    catalogue = load_catalogue()
    security = catalogue.diagnosis("SEC3")
    assert "CISO" not in escalation_line(security, "low", catalogue, {})
    assert "no call needed" in escalation_line(security, "low", catalogue, {})
    assert "open a ticket for Security Team Lead" in escalation_line(security, "medium", catalogue, {})
    critical = escalation_line(security, "critical", catalogue, {})
    assert "call Security Team Lead and CISO at once" in critical and "within immediately" not in critical
    database = escalation_line(catalogue.diagnosis("DB1"), "critical", catalogue, {})
    assert "then Senior Developer if no answer within 30 minutes" in database


def test_a_contacts_phone_and_pager_are_named_after_it_on_one_line() -> None:
    catalogue = load_catalogue()
    db1 = catalogue.diagnosis("DB1")
    contact = Contact(primary="DBA <dba@example.com>", phone="+1 555\n0100", pager=" ", secondary="Senior Developer",
                      secondary_pager="PD-DB")
    assert escalation_line(db1, "critical", catalogue, {"database": contact}).endswith(
        "call Database Administrator (DBA <dba@example.com>, phone +1 555 0100), then Senior Developer (pager PD-DB) "
        "if no answer within 30 minutes")
    alone = Contact(primary="DBA", pager="PD-DB", secondary="Jo", secondary_phone="+1 555 0101")
    assert "(DBA, pager PD-DB), then Senior Developer (Jo, phone +1 555 0101)" in escalation_line(
        db1, "critical", catalogue, {"database": alone})
    assert "open a ticket for Database Administrator (DBA, pager PD-DB)" in escalation_line(
        db1, "medium", catalogue, {"database": alone})


def test_runbook_references_link_the_section_under_a_base_url() -> None:
    catalogue = load_catalogue()
    refs = catalogue.runbook_refs(catalogue.diagnosis("DB1"), "https://github.com/acme/ops/blob/main/")
    assert refs[0] == ("000 §2 Booking Flow Broken > Step 2: Database Connectivity (https://github.com/acme/ops/"
                       "blob/main/docs/runbooks/000-booking-troubleshooting.md#step-2-database-connectivity)")
    assert heading_anchor("§1 Application Not Loading > Step 2: Test Basic Connectivity") == (
        "step-2-test-basic-connectivity")
    assert catalogue.runbook_refs(catalogue.diagnosis("DB1"))[0].endswith("(docs/runbooks/000-booking-troubleshooting.md)")


# --- failure blocks of real faults -------------------------------------------------------------------------


def test_db1_refused_names_the_real_server_once_with_postgres_advice(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["DB1"])
    run = run_checks("--diagnosis", "DB1")
    message = run.record("DB1", "booking")["message"]
    port = str(stack.ports.postgres)
    steps = _block(message, "what to do:")
    commands = _commands(steps)
    assert f"pg_isready -h 127.0.0.1 -p {port}" in commands
    assert any(f"grep :{port}" in c for c in commands) and "grep 5432" not in message
    assert sum("pg_isready" in c for c in commands) == 1, steps  # said once
    assert f"ss -ltnp | grep :{port}" in commands and "netstat" not in message
    assert not any(c.startswith(("docker", "kubectl", "pscale", "systemctl")) for c in commands), steps  # no platform
    assert not re.search(r"\bHOST\b|\bPORT\b|wrangler|sqlite", "\n".join(steps)), steps  # filled, PostgreSQL's
    assert "Connection refused. Is the server running" in message  # the driver's line break kept as a sentence


def test_cache1_refused_does_not_blame_the_password(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["CACHE1"])
    run = run_checks("--diagnosis", "CACHE1")
    message = run.record("CACHE1", "sessions")["message"]
    causes = _block(message, "likely causes:")
    assert causes and not any("password" in c for c in causes), causes
    assert stack.redis is not None
    assert f"redis-cli -h 127.0.0.1 -p {stack.redis.port} ping" in _commands(_block(message, "what to do:"))


def test_cache1_wrong_password_blames_it(run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]) -> None:
    assert stack.redis is not None
    env = env_file(f"""
name: cache
kind: test
caches:
  - {{name: sessions, url: "redis://127.0.0.1:{stack.redis.port}/0", password: "${{WRONG_REDIS_PASSWORD}}"}}
""")
    run = run_checks("--diagnosis", "CACHE1", env=env, environ={"WRONG_REDIS_PASSWORD": "wrong-redis-secret"})
    causes = _block(run.record("CACHE1", "sessions")["message"], "likely causes:")
    assert any("password" in c for c in causes) and not any("stopped" in c for c in causes), causes


def test_postgres_targets_get_postgres_advice(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["DB9", "AUTH6"])
    run = run_checks("--diagnosis", "DB9,AUTH6")
    tables = next(r for r in run.records("DB9") if r["outcome"] == "failed")["message"]
    assert ".tables" not in tables and "sqlite_master" not in tables and "wrangler d1 list" not in tables
    assert "\\dt" in tables
    sessions = next(r for r in run.records("AUTH6") if r["outcome"] == "failed")["message"]
    assert "datetime('now'" not in sessions and "now() - interval '7 days'" in sessions
    assert "no call needed" in sessions  # AUTH6 is low: nobody is called


def test_net5_inspects_the_real_endpoint_once(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["NET5"])
    run = run_checks("--diagnosis", "NET5")
    message = run.record("NET5", "app")["message"]
    commands = _commands(_block(message, "what to do:"))
    assert sum("openssl s_client" in c for c in commands) == 1, commands
    assert any(f"-connect 127.0.0.1:{stack.ports.https}" in c for c in commands), commands
    assert "<host>" not in message


def test_an_environment_links_its_runbooks(run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]) -> None:
    stack.break_(["DB1"])
    demo = (Path(__file__).parents[2] / "environments" / "demo.yaml").read_text()
    env = env_file(demo + "\nrunbook_base_url: https://github.com/acme/ops/blob/main\n")
    run = run_checks("--diagnosis", "DB1", env=env)
    record = run.record("DB1", "booking")
    link = "https://github.com/acme/ops/blob/main/docs/runbooks/000-booking-troubleshooting.md#step-2-database-connectivity"
    assert link in record["message"] and link in record["runbook"][0]


# --- every shipped diagnosis: commands runnable as they stand ------------------------------------------------

APP_URL = "http://app.internal:8443/base/path"
PG_DSN = "postgresql://monitor@db.internal:6543/booking"
ENV_NAME = "staging-eu"
_PLACEHOLDER = re.compile(r"<[a-z][a-z _-]*>|\b(?:HOST|PORT|NAME|FILE|PATH)\b")
# the programs that reach the target over the network: each must name its real host (and port, where it takes one)
_REACHES = {"curl": True, "psql": True, "pg_isready": True, "redis-cli": True, "openssl": True, "nc": True,
            "dig": False, "nslookup": False, "traceroute": False}

_THIRD_PARTIES = ("www.googleapis.com", "api.paystack.co")


def _contexts(platforms: frozenset[str] = frozenset()) -> dict[str, AdviceContext]:
    """An AdviceContext per kind of target, each on a non-default port (and the HTTP one on a path)."""
    env = {"env": ENV_NAME}
    return {
        "http": AdviceContext(values={**url_values(APP_URL), **env, "origin": "https://www.example.com"},
                              platforms=platforms),
        "postgres": AdviceContext(engine="postgres", values={**postgres_parts(PG_DSN), **env}, platforms=platforms),
        "sqlite": AdviceContext(engine="sqlite", values={"file": "/srv/data/booking.sqlite", **env},
                                platforms=platforms),
        "redis": AdviceContext(values={"host": "cache.internal", "port": "6380", "pattern": "refresh_token:*", **env},
                               platforms=platforms),
        "tls": AdviceContext(values={"host": "app.internal", "port": "8443", "name": "www.example.com",
                                     "http_url": "http://app.internal:8080/", **env}, platforms=platforms),
        "dns": AdviceContext(values={"host": "www.example.com", "name": "www.example.com",
                                     "at_resolver": "@127.0.0.1 -p 5353 ", **env}, platforms=platforms),
        "tcp": AdviceContext(values={"host": "app.internal", "port": "8443", **env}, platforms=platforms),
        "file": AdviceContext(values={"file": "/var/log/app/app.log", "example": "/srv/app/.env.example",
                                      "deployed": "/srv/app/.env", **env}, platforms=platforms),
    }


def _target_kinds(diagnosis_id: str) -> list[str]:
    """What the check of a diagnosis reads (checks/): the kinds of target its failure block is for."""
    both = ("DB1", "DB9", "PERF5", "PERF6")
    sqlite = ("DB8", "DB15")
    postgres = ("DB2", "DB3", "DB5", "DB6", "DB7", "DB10", "DB11", "DB12", "DB13", "DB14", "PERF4", "AUTH5", "AUTH6",
                "PAY4", "PAY5", "SEC1", "SEC2", "SEC3", "SEC4", "SEC5", "BIZ1")
    kinds = {"CACHE1": "redis", "CACHE2": "redis", "PERF7": "redis", "AUTH7": "redis", "NET5": "tls", "NET6": "tls",
             "NET1": "dns", "NET2": "dns", "NET3": "dns", "NET4": "dns", "AV4": "tcp"}
    if diagnosis_id in both:
        return ["postgres", "sqlite"]
    if diagnosis_id in sqlite:
        return ["sqlite"]
    if diagnosis_id in postgres:
        return ["postgres"]
    if diagnosis_id in kinds:
        return [kinds[diagnosis_id]]
    if re.fullmatch(r"LOG\d|DEP[3-6]|PERF8|BAK\d", diagnosis_id):
        return ["file"]
    return ["http"]


_SERVICE_DIAGNOSIS = {"http": "AV1", "postgres": "DB1", "sqlite": "DB1", "redis": "CACHE1", "tcp": "AV4",
                      "tls": "NET5", "dns": "NET1", "file": "LOG1"}
_SERVICE_KIND = {"http": "http", "postgres": "postgres", "sqlite": "sqlite", "redis": "redis", "tcp": "tcp",
                 "tls": "tls", "dns": "dns", "file": "file"}


def _rendered(platforms: frozenset[str] = frozenset()) -> list[tuple[str, str, AdviceContext, list[str]]]:
    """(what, target kind, context, steps) of every shipped diagnosis, and of every failure kind on every
    service it advises, composed as a failing check composes them (healthsuite.assessments.failure)."""
    catalogue = load_catalogue()
    contexts = _contexts(platforms)
    out = []
    for diagnosis_id, entry in catalogue.diagnoses.items():
        for kind in _target_kinds(diagnosis_id):
            finding = Finding(ok=False, observed="x", expected="y")
            block = failure_block(entry, finding, severity=entry.severity, catalogue=catalogue, contacts={},
                                  context=contexts[kind])
            out.append((diagnosis_id, kind, contexts[kind], list(block.steps)))
    for kind_name, kind in catalogue.failure_kinds.items():
        for service in kind.remediation:
            entry = catalogue.diagnosis(_SERVICE_DIAGNOSIS[service])
            error = ProbeError(kind_name, service, "somewhere", "detail")
            finding = probe_failure(error, catalogue, "y")
            context = replace(contexts[_SERVICE_KIND[service]], failure_kind=kind_name)
            block = failure_block(entry, finding, severity="high", catalogue=catalogue, contacts={}, context=context)
            out.append((f"{kind_name}/{service}", _SERVICE_KIND[service], context, list(block.steps)))
    return out


def test_every_command_of_every_diagnosis_names_the_real_target_and_is_filled() -> None:
    problems: list[str] = []
    for what, kind, context, steps in _rendered():
        values = context.values
        for command in _commands(steps):
            where = f"{what} ({kind}): `{command}`"
            if _PLACEHOLDER.search(command):
                problems.append(f"{where}: an unfilled placeholder")
            if re.search(r"\bnetstat\b", command):
                problems.append(f"{where}: netstat (a stock Debian has ss)")
            if platforms_of(f"`{command}`") or re.search(r"\bproduction\b", command):
                problems.append(f"{where}: a platform's command, or production, while none is declared")
            if "--env" in command and f"--env {ENV_NAME}" not in command:
                problems.append(f"{where}: --env is not the environment's own name")
            program = command.split()[0] if command.split() else ""
            if program == "openssl" and command.split()[1:2] in (["req"], ["x509"], ["genrsa"]):
                program = "openssl (local)"  # making a certificate or key reaches no server
            if any(f"https://{site}/" in command for site in _THIRD_PARTIES) or (kind == "tls" and program == "curl"):
                plain = (values.get("http_url", ""), f"http://{values.get('host')}:{values.get('port')}/")
                if kind == "tls" and not any(url in command for url in plain):
                    problems.append(f"{where}: not the declared plain-HTTP URL {values['http_url']}")
                continue  # a documented third party's own API (Google's token info), or NET6's plain-HTTP URL
            if program in ("dig", "nslookup") and values.get("name", "") in command:
                continue  # a TLS endpoint's server name
            if program in _REACHES and "host" in values and values["host"] not in command:
                problems.append(f"{where}: does not name the host {values['host']}")
            if _REACHES.get(program) and "port" in values and values["port"] not in command:
                problems.append(f"{where}: does not name the port {values['port']}")
            if kind == "http" and program == "curl" and APP_URL not in command:
                problems.append(f"{where}: not the target's URL {APP_URL}")
            if kind == "http" and "https://app.internal" in command:
                problems.append(f"{where}: https for an http target")
    assert not problems, "\n".join(problems)


def test_platform_commands_appear_where_the_platform_is_declared() -> None:
    def commands(platforms: frozenset[str], what: str) -> list[str]:
        return [c for w, _, _, steps in _rendered(platforms) if w == what for c in _commands(steps)]

    kubernetes = frozenset({"kubernetes"})
    assert "kubectl get pods -A -l app=postgres" in commands(kubernetes, "DB1")
    assert any(c.startswith("kubectl get pods") for c in commands(kubernetes, "AV1"))
    assert not any(c.startswith(("wrangler", "docker", "pscale", "systemctl")) for c in commands(kubernetes, "DB1"))
    assert not any(c.startswith("kubectl") for c in commands(frozenset(), "DB1"))
    cloudflare = commands(frozenset({"cloudflare"}), "AV1")
    assert f"wrangler rollback --env {ENV_NAME}" in cloudflare and not any("production" in c for c in cloudflare)
    every = frozenset(PLATFORMS)
    for what, kind, _, steps in _rendered(every):
        for command in _commands(steps):
            assert not _PLACEHOLDER.search(command), f"{what} ({kind}): `{command}`"
            assert "production" not in command, f"{what} ({kind}): `{command}`"


def test_steps_follow_the_http_status_seen() -> None:
    catalogue = load_catalogue()
    base = _contexts()["http"]

    def steps(status: int) -> str:
        entry = catalogue.diagnosis("AV3")
        finding = Finding(ok=False, observed=f"HTTP {status}", expected="no 5xx", facts={"status": status})
        block = failure_block(entry, finding, severity="critical", catalogue=catalogue, contacts={},
                              context=replace(base, status=status))
        return "\n".join([*block.steps, *block.causes])

    five_hundred = steps(500)
    assert "error behind this request" in five_hundred and "502" not in five_hundred
    assert "503" not in five_hundred and "504" not in five_hundred and "upstream" not in five_hundred
    bad_gateway = steps(502)
    assert "upstream" in bad_gateway and "error behind this request" not in bad_gateway and "DB3" not in bad_gateway
    assert "DB3" in steps(503) and "upstream" not in steps(503)


def test_urls_keep_their_scheme_port_and_path() -> None:
    assert url_values("http://127.0.0.1:8080/bad/page")["url"] == "http://127.0.0.1:8080/bad/page"
    assert url_values("https://example.com:443/api/health")["url"] == "https://example.com/api/health"
    assert url_values("https://example.com")["base_url"] == "https://example.com"
    values = url_values("http://127.0.0.1:8080/api/auth/verify")
    assert fill("`curl -I https://<host>/` and `curl <url>`", values) == (
        "`curl -I http://127.0.0.1:8080/` and `curl http://127.0.0.1:8080/api/auth/verify`")


def test_a_failing_page_gets_commands_for_its_own_url_status_and_platform(
    run_checks: RunChecks, env_file: Callable[[str], Path]
) -> None:
    def answer(request: BaseHTTPRequestHandler) -> Answer:
        return Answer(status=500, body=b"boom") if request.path.startswith("/bad/") else Answer()

    with serving(answer) as base:
        page = f"{base}/bad/page"
        env = env_file(f"""
name: edge-test
kind: test
platform: [cloudflare, kubernetes]
base_urls: {{app: "{base}"}}
pages:
  - {{name: bad, url: "{page}"}}
endpoints:
  - {{name: verify, path: /bad/api/auth/verify}}
""")
        run = run_checks("--diagnosis", "AV1,AV3", env=env)
    av1 = run.record("AV1", "bad")["message"]
    commands = _commands(_block(av1, "what to do:"))
    assert f"curl -I {page}" in commands, commands
    assert "wrangler rollback --env edge-test" in commands and "production" not in av1
    assert "kubectl get pods -A" in commands and not any("docker" in c for c in commands)
    av3 = run.record("AV3", "verify")["message"]
    steps = "\n".join(_block(av3, "what to do:") + _block(av3, "likely causes:"))
    assert f"{base}/bad/api/auth/verify" in steps and "https://" not in steps
    assert "error behind this request" in steps and not re.search(r"\b50[234]\b|upstream", steps), steps
