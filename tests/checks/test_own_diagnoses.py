"""A team's own diagnoses files and declared checks that are wrong: each refused at load with the file,
the line, the key path and the fix, like tests/environment/test_environment_files.py's CASES; and the schema of a
diagnoses file is current and validates the shipped example."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.environment.schema import DIAGNOSES_PATH, render_diagnoses

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT / "examples" / "own-runbook"

DIAGNOSES = """\
runbooks:
  queue: {title: Queue runbook, url: "https://github.com/acme/ops/blob/main/queue.md"}
categories:
  queues: job queues
escalation_areas:
  queue_platform: {area: Queue platform, primary: Queue on-call, secondary: Platform lead, within: 15 minutes}
diagnoses:
  QUEUE-1:
    title: No job is stuck
    category: queues
    severity: high
    runbooks: [{runbook: queue, section: "§1 Jobs Stuck > Step 1: Find the Stuck Jobs"}]
    verifies: No job runs for more than 10 minutes.
    causes: [A worker died holding the job.]
    remediation: ["List them: `psql -h <host> -p <port> -d <db>`"]
    escalation: queue_platform
"""
ENV = """\
name: own
kind: test
diagnoses_file: own-diagnoses.yaml
base_urls: {app: "https://127.0.0.1:8443"}
databases:
  - {name: main, engine: postgresql, dsn: "postgresql://monitor:${PGPASSWORD}@127.0.0.1:5432/app"}
caches:
  - {name: sessions, url: "redis://127.0.0.1:6379/0"}
declared_checks:
"""
CHECK = """\
  - name: stats
    diagnosis: QUEUE-1
    http: {path: /queue/stats}
    expect:
      - status == 200
      - json.stuck == 0
"""


def load(tmp_path: Path, checks: str = CHECK, diagnoses: str = DIAGNOSES, env: str = ENV):
    (tmp_path / "own-diagnoses.yaml").write_text(diagnoses)
    path = tmp_path / "own.yaml"
    path.write_text(env + checks)
    return load_environment(path, {})


def error_of(tmp_path: Path, **parts: str) -> str:
    with pytest.raises(EnvironmentFileError) as info:
        load(tmp_path, **parts)
    return str(info.value)


def test_a_valid_file_merges_its_diagnoses_into_the_environment_catalogue(tmp_path: Path) -> None:
    env = load(tmp_path)
    entry = env.catalogue.diagnosis("QUEUE-1")
    assert (entry.id, entry.category, entry.severity, entry.escalation) == ("QUEUE-1", "queues", "high", "queue_platform")
    assert env.catalogue.categories == {"queues": "job queues"}
    assert env.catalogue.runbook_refs(entry) == [
        "queue §1 Jobs Stuck > Step 1: Find the Stuck Jobs "
        "(https://github.com/acme/ops/blob/main/queue.md#step-1-find-the-stuck-jobs)"
    ]
    assert [c.text for c in env.model.declared_checks[0].conditions()] == ["status == 200", "json.stuck == 0"]
    assert "QUEUE-1" not in load_environment(PROJECT / "environments" / "local.yaml", {}).catalogue.diagnoses


MORE = """\
diagnoses:
  QUEUE-2:
    title: The workers keep up
    category: queues
    severity: critical
    runbooks: [{runbook: queue, section: "§2 Backlog Growing"}]
    verifies: At least one worker is alive.
    escalation: queue_platform
"""


def test_a_list_of_files_each_using_what_another_declares(tmp_path: Path) -> None:
    (tmp_path / "more.yaml").write_text(MORE)
    listed = ENV.replace("diagnoses_file: own-diagnoses.yaml", "diagnoses_file: [own-diagnoses.yaml, more.yaml]")
    env = load(tmp_path, env=listed)
    assert env.catalogue.diagnosis("QUEUE-2").category == "queues"
    (tmp_path / "more.yaml").write_text(MORE.replace("QUEUE-2", "QUEUE-1"))
    message = error_of(tmp_path, env=listed)
    assert "line 3: diagnoses_file: diagnosis QUEUE-1 is declared twice" in message, message
    assert "fix: declare each runbook, category, area and diagnosis in one file only" in message


def test_the_example_validates_against_the_schema_and_loads(tmp_path: Path) -> None:
    from healthsuite.testing.certs import TestCA

    TestCA.create().write(tmp_path / "ca.pem")
    schema = json.loads(DIAGNOSES_PATH.read_text())
    jsonschema.validate(yaml.safe_load((EXAMPLE / "queue-diagnoses.yaml").read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(DIAGNOSES.replace("QUEUE-1", "QUEUE1")), schema)
    env_schema = json.loads((PROJECT / "environments" / "schema.json").read_text())
    jsonschema.validate(yaml.safe_load((EXAMPLE / "queue.yaml").read_text()), env_schema)
    env = load_environment(EXAMPLE / "queue.yaml", {"HEALTHSUITE_DEMO_DIR": str(tmp_path)})
    assert [c.diagnosis for c in env.model.declared_checks] == ["QUEUE-1", "QUEUE-2"]


def test_the_diagnoses_schema_is_current() -> None:
    assert DIAGNOSES_PATH.read_text() == render_diagnoses(), "run: python -m healthsuite.environment.schema"


# (where the problem is: diagnoses or checks, the text replaced, by what) -> the exact lines of the message
DIAGNOSES_CASES = {
    "an ID without a namespace": (
        ("QUEUE-1:", "QUEUE1:"),
        ["line 8: diagnoses.QUEUE1: 'QUEUE1' has no namespace",
         "fix: write it as NAMESPACE-NAME, e.g. QUEUE-1: an own diagnosis ID is NAMESPACE-NAME in upper case (e.g. "
         "QUEUE-1, PAYOUTS-LATE): no shipped ID (AV1, DB3, ...) has a `-`, so yours can never collide with the "
         "catalogue's, now or after an upgrade"],
    ),
    "a shipped ID": (("QUEUE-1:", "DB1:"), ["line 8: diagnoses.DB1: DB1 is a shipped diagnosis", "fix: give yours its own ID"]),
    "a lower-case ID": (("QUEUE-1:", "queue-1:"), ["line 8: diagnoses.queue-1: 'queue-1' is not upper case", "fix: write QUEUE-1:"]),
    "an unknown category": (
        ("category: queues", "category: queue"),
        ["line 10: diagnoses.QUEUE-1.category: unknown category 'queue'",
         "fix: did you mean queues? use a shipped one (availability, booking, payments, auth, performance, database, "
         "cache, network, deployment, backups, security, integrations, logs, business) or declare it under `categories`"],
    ),
    "a category that is a severity": (
        ("queues: job queues", "high: job queues"),
        ["line 4: categories.high: 'high' is one of healthsuite's own markers (a severity or a kind)",
         "fix: name the category for what it covers, e.g. queues"],
    ),
    "an unknown escalation area": (
        ("escalation: queue_platform", "escalation: queues_platform"),
        ["line 16: diagnoses.QUEUE-1.escalation: unknown escalation area 'queues_platform'",
         "fix: use a shipped one (security, infrastructure, application, database, business, external_apis) or "
         "declare it under `escalation_areas`"],
    ),
    "an unknown runbook": (
        ("runbook: queue,", "runbook: queues,"),
        ["line 12: diagnoses.QUEUE-1.runbooks[0].runbook: unknown runbook 'queues'",
         "fix: declare it under `runbooks` (title and url), or use one of: 000, 001, 002, 003, 004, queue"],
    ),
    "a misspelt key": (
        ("    verifies:", "    verify:"),
        ["line 13: diagnoses.QUEUE-1.verify: unknown key", "fix: did you mean `verifies`?",
         "diagnoses.QUEUE-1.verifies: Field required"],
    ),
    "a wrong severity": (
        ("severity: high", "severity: urgent"),
        ["line 11: diagnoses.QUEUE-1.severity: Input should be 'critical', 'high', 'medium' or 'low' (got 'urgent')",
         "fix: use one of: critical, high, medium or low"],
    ),
    "a runbook without url or file": (
        ('queue: {title: Queue runbook, url: "https://github.com/acme/ops/blob/main/queue.md"}', "queue: {title: Queue runbook}"),
        ["line 2: runbooks.queue: give either `url` or `file`, not both or neither"],
    ),
}
CHECK_CASES = {
    "an unknown diagnosis": (
        ("diagnosis: QUEUE-1", "diagnosis: QUEUE-9"),
        ["own.yaml: invalid environment file (1 problem)", "line 11: declared_checks[0].diagnosis: unknown diagnosis 'QUEUE-9'",
         "fix: did you mean QUEUE-1? use an ID of your diagnoses_file or of docs/DIAGNOSES.md (own diagnoses: QUEUE-1)"],
    ),
    "two probe blocks": (
        ("    http: {path: /queue/stats}\n", "    http: {path: /queue/stats}\n    tcp: {address: '127.0.0.1:5672'}\n"),
        ["line 10: declared_checks[0]: a declared check has exactly one probe block, found 2 (http, tcp)",
         "fix: keep one of http, sql, redis, dns, tls, tcp, file; declare another check for the other probe"],
    ),
    "no probe block": (
        ("    http: {path: /queue/stats}\n", ""),
        ["declared_checks[0]: a declared check has exactly one probe block, found none"],
    ),
    "an unknown name in a condition": (
        ("      - json.stuck == 0", "      - jsn.stuck == 0"),
        ["line 15: declared_checks[0].expect[1]: `jsn.stuck == 0`: column 1 (`jsn`): unknown name `jsn`",
         "fix: did you mean `json`? names here: status, headers, json, body, time"],
    ),
    "an unknown unit": (
        ("      - json.stuck == 0", "      - time.total < 5 sec"),
        ["line 15: declared_checks[0].expect[1]: `time.total < 5 sec`: column 16 (`sec`): unknown unit `sec`",
         "fix: use ms, s, m, h, d, e.g. `5s`"],
    ),
    "an unclosed parenthesis": (
        ("      - status == 200", "      - (status == 200"),
        ["line 14: declared_checks[0].expect[0]: `(status == 200`: column 1 (`(`): `(` is never closed",
         "fix: add `)` where the group ends"],
    ),
    "a unit beside a number of days": (
        ("    http: {path: /queue/stats}\n    expect:\n      - status == 200\n      - json.stuck == 0\n",
         "    tls: {base: app}\n    expect: days_left > 14d\n"),
        ["line 13: declared_checks[0].expect: `days_left > 14d`: column 15 (`d`): days_left is a number of days "
         "(write `days_left > 14`, not 14d), so a unit beside it would be converted and compared wrongly",
         "fix: write the number alone, e.g. `days_left > 14`"],
    ),
    "SQL that writes": (
        ("    http: {path: /queue/stats}\n    expect:\n      - status == 200\n      - json.stuck == 0\n",
         "    sql: {database: main, query: \"WITH gone AS (DELETE FROM jobs RETURNING 1) SELECT count(*) FROM gone\"}\n"
         "    expect: value == 0\n"),
        ["line 12: declared_checks[0].sql.query: the query has a data-modifying WITH (DELETE in gone): checks only read",
         "fix: write one read-only SELECT"],
    ),
    "SQL that takes a lock": (
        ("    http: {path: /queue/stats}\n    expect:\n      - status == 200\n      - json.stuck == 0\n",
         "    sql: {database: main, query: \"SELECT pg_try_advisory_lock(1)\"}\n    expect: value\n"),
        ["declared_checks[0].sql.query: the query calls pg_try_advisory_lock(), which takes a session-level lock that "
         "outlives the read-only transaction"],
    ),
    "an undeclared database": (
        ("    http: {path: /queue/stats}\n    expect:\n      - status == 200\n      - json.stuck == 0\n",
         "    sql: {database: jobs, query: \"SELECT 1\"}\n    expect: value == 1\n"),
        ["line 12: declared_checks[0].sql.database: names database 'jobs', which `databases` does not declare",
         "fix: use one of: main"],
    ),
    "a Redis command off the allow-list": (
        ("    http: {path: /queue/stats}\n    expect:\n      - status == 200\n      - json.stuck == 0\n",
         "    redis: {command: KEYS *}\n    expect: value\n"),
        ["line 12: declared_checks[0].redis.command: KEYS walks the whole keyspace and blocks the server while it does",
         "fix: use one of PING, GET, EXISTS, TTL, PTTL, TYPE, STRLEN, LLEN, SCARD, HLEN, ZCARD, XLEN, HGET, DBSIZE, "
         "INFO: each answers in one bounded round trip and changes nothing"],
    ),
    "a Redis command that writes": (
        ("    http: {path: /queue/stats}\n    expect:\n      - status == 200\n      - json.stuck == 0\n",
         "    redis: {command: [SET, a, b]}\n    expect: value\n"),
        ["declared_checks[0].redis.command: SET writes"],
    ),
    "info without INFO": (
        ("    http: {path: /queue/stats}\n    expect:\n      - status == 200\n      - json.stuck == 0\n",
         "    redis: {command: LLEN jobs}\n    expect: info.used_memory < 1GB\n"),
        ["line 13: declared_checks[0].expect: `info.used_memory < 1GB`: column 1 (`info`): unknown name `info`",
         "fix: `info` is what INFO answers: send command INFO, or judge `value` (the command's answer)"],
    ),
    "an undeclared base": (
        ("    http: {path: /queue/stats}", "    http: {path: /queue/stats, base: queue}"),
        ["line 12: declared_checks[0].http.base: uses base 'queue', which base_urls does not declare (known: app)"],
    ),
    "a body without POST": (
        ("    http: {path: /queue/stats}", "    http: {path: /queue/stats, body: '{}'}"),
        ["declared_checks[0].http.body: a body is sent with POST only (method is GET)"],
    ),
    "a literal credential header": (
        ("    http: {path: /queue/stats}", "    http: {path: /queue/stats, headers: {authorization: Bearer abc}}"),
        ["declared_checks[0].http.headers.authorization"],
    ),
    "a window without a log": (
        ("    http: {path: /queue/stats}\n    expect:\n      - status == 200\n      - json.stuck == 0\n",
         "    file: {path: worker.log, pattern: stuck, window_min: 15}\n    expect: matches == 0\n"),
        ["declared_checks[0].file.window_min: a window needs dated lines: it is read through a `logs` entry's format"],
    ),
    "an unknown probe key": (
        ("    http: {path: /queue/stats}", "    http: {path: /queue/stats, methd: GET}"),
        ["line 12: declared_checks[0].http.methd: unknown key", "did you mean `method`?"],
    ),
    "an unknown own diagnosis in severity_overrides": (
        ("declared_checks:\n", "severity_overrides: {QUEUE-2: low}\ndeclared_checks:\n"),
        ["line 9: severity_overrides.QUEUE-2: unknown diagnosis 'QUEUE-2'", "fix: did you mean QUEUE-1?"],
    ),
    "a diagnoses file that does not exist": (
        ("diagnoses_file: own-diagnoses.yaml", "diagnoses_file: own.diagnoses.yaml"),
        ["line 3: diagnoses_file: own.diagnoses.yaml: no such diagnoses file",
         "fix: write its path relative to this environment file, e.g. acme-diagnoses.yaml"],
    ),
}


@pytest.mark.parametrize("case", sorted(DIAGNOSES_CASES))
def test_a_malformed_diagnoses_file_names_file_line_key_and_fix(tmp_path: Path, case: str) -> None:
    (old, new), expected = DIAGNOSES_CASES[case]
    assert old in DIAGNOSES
    message = error_of(tmp_path, diagnoses=DIAGNOSES.replace(old, new))
    assert message.startswith(f"{tmp_path / 'own-diagnoses.yaml'}: invalid diagnoses file"), message
    assert f"named by diagnoses_file in {tmp_path / 'own.yaml'} line 3" in message.splitlines()[0]
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message}"


@pytest.mark.parametrize("case", sorted(CHECK_CASES))
def test_a_malformed_declared_check_names_file_line_key_and_fix(tmp_path: Path, case: str) -> None:
    (old, new), expected = CHECK_CASES[case]
    text = ENV + CHECK
    assert old in text
    env, _, checks = text.replace(old, new).partition("declared_checks:\n")
    message = error_of(tmp_path, env=env + "declared_checks:\n", checks=checks)
    assert message.startswith(f"{tmp_path / 'own.yaml'}: invalid environment file"), message
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message}"
    assert "Traceback" not in message and "fix:" in message


def test_every_problem_of_the_declared_checks_at_once(tmp_path: Path) -> None:
    checks = CHECK + CHECK.replace("name: stats", "name: other").replace("json.stuck", "jsn.stuck").replace(
        "QUEUE-1", "QUEUE-7")
    message = error_of(tmp_path, checks=checks)
    assert "(2 problems)" in message
    assert "declared_checks[1].diagnosis: unknown diagnosis 'QUEUE-7'" in message
    assert "declared_checks[1].expect[1]: `jsn.stuck == 0`" in message
