"""Issue 17: the environment-file loader fuzzed. Whatever the bytes, `load_environment` returns an
environment or raises EnvironmentFileError whose message names the file and carries a fix: no other
exception, no traceback. Four generators: raw bytes, YAML-looking text, well-formed YAML over the
real keys with hostile values, and byte mutations of a shipped environment file."""

from __future__ import annotations

import os
import string
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = (PROJECT / "environments" / "local.yaml").read_bytes()
# HEALTHSUITE_FUZZ_EXAMPLES=5000 for a longer hunt; CI runs 150 of each
FUZZ = settings(max_examples=int(os.environ.get("HEALTHSUITE_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

KEYS = ["name", "kind", "base_urls", "pages", "health", "databases", "caches", "http", "timeouts", "thresholds",
        "severity_overrides", "tls", "ports", "hostnames", "notify", "secrets_file", "dns", "latency", "logs",
        "booking", "auth", "escalation", "runbook_base_url", "allow_mutating"]
NESTED = ["name", "path", "url", "base", "dsn", "engine", "headers", "address", "host", "samples", "expect_status",
          "ca_bundle", "max_concurrency", "http_s", "PERF2", "DB3", "AV1", "body", "payload", "password", "submit"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["https://", "https://h:99999", "redis://h:x/0", "postgresql://u:p@h/d", "host=h password=x",
                     "${", "${X}", "${X:-5432}", "Bearer abc", "/", "production", "test", "critical", "1e9",
                     "../../etc/passwd", "\x00", "\u202e", "*", "&a", "<<"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(NESTED) | st.text(max_size=8),
                                                                   inner, max_size=5),
    max_leaves=25,
)
DOCUMENTS = st.fixed_dictionaries({"kind": st.sampled_from(["test", "production", "demo", "x"])},
                                  optional={key: VALUES for key in KEYS if key != "kind"})
YAMLISH = st.text(alphabet=string.ascii_letters + string.digits + " :-[]{}&*!|>'\"#\n\t%@`,?.$/\\<=~", max_size=400)


def refused_or_loaded(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        load_environment(path, {})
    except EnvironmentFileError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: "), message
        assert "fix: " in message, message
        assert "Traceback" not in message, message


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    refused_or_loaded(tmp_path / "fuzz.yaml", data)


@FUZZ
@given(text=YAMLISH)
def test_yaml_looking_text(tmp_path: Path, text: str) -> None:
    refused_or_loaded(tmp_path / "fuzz.yaml", text.encode())


@FUZZ
@given(document=DOCUMENTS)
def test_well_formed_yaml_over_the_real_keys(tmp_path: Path, document: dict[str, object]) -> None:
    refused_or_loaded(tmp_path / "fuzz.yaml", yaml.safe_dump(document, allow_unicode=True).encode())


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, len(SHIPPED) - 1), st.binary(max_size=3), st.integers(0, 3)),
                      min_size=1, max_size=6))
def test_mutations_of_a_shipped_file(tmp_path: Path, edits: list[tuple[int, bytes, int]]) -> None:
    data = bytearray(SHIPPED)
    for at, insert, remove in edits:
        data[at : at + remove] = insert
    refused_or_loaded(tmp_path / "fuzz.yaml", bytes(data))


def test_a_default_that_swallows_the_next_reference_loads_or_is_refused_located(tmp_path: Path) -> None:
    """Found by the mutations above: `${PGUSER:-postgr:${PGPASSWORD:-...}` resolves to a text holding
    `${PGPASSWORD:-...` without its brace, which the loader judges again with `$` escaped as `$$`; an
    escaped `$${` is no reference, so judging it must not raise."""
    dsn = "postgresql://${PGUSER:-postgr:${PGPASSWORD:-}@localhost:5432/postgres"
    refused_or_loaded(tmp_path / "dsn.yaml", f"name: t\nkind: test\ndatabases: [{{name: db, engine: postgresql, dsn: '{dsn}'}}]\n".encode())
