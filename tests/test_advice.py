"""Advice that fits what was seen: failure blocks of real demo faults read as an on-call engineer
reads them (the steps said once, with the target's real host and port, causes the observation does
not rule out, advice for the target's engine, escalation by severity, runbook links), and the pure
tailoring underneath (healthsuite.advice)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from healthsuite.advice import AdviceContext, fill, tailor_causes, tailor_steps
from healthsuite.catalogue import heading_anchor, load_catalogue
from healthsuite.demo.stack import DemoStack
from healthsuite.failure import escalation_line

from .conftest import RunChecks


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
    postgres = tailor_steps(steps, AdviceContext(engine="postgres", values={"host": "h", "port": "1"}))
    assert postgres == ["Check the server is running: `pg_isready -h h -p 1`, `docker-compose ps postgres`.",
                        "Read its logs (`docker-compose logs postgres`).", "See DB2 for the kind of failure."]
    sqlite = tailor_steps(steps, AdviceContext(engine="sqlite"))
    assert "List the tables with `.tables`." in sqlite and not any("[" in s for s in sqlite)


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
    assert sum(c.startswith("docker-compose logs") for c in commands) == 1, steps
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
    demo = (Path(__file__).parents[1] / "environments" / "demo.yaml").read_text()
    env = env_file(demo + "\nrunbook_base_url: https://github.com/acme/ops/blob/main\n")
    run = run_checks("--diagnosis", "DB1", env=env)
    record = run.record("DB1", "booking")
    link = "https://github.com/acme/ops/blob/main/docs/runbooks/000-booking-troubleshooting.md#step-2-database-connectivity"
    assert link in record["message"] and link in record["runbook"][0]
