"""Environment files: the shipped ones load, the schema is current, and every malformed file gets an
error that names the file, the line, the key path and the fix (one fixture per rule)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from healthsuite.environment.loader import choose_environment, load_environment, locate
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.environment.schema import render
from healthsuite.model.templates import MissingVariable, Template, read_dotenv

ENVIRONMENTS = Path(__file__).resolve().parents[2] / "environments"
# The environments this checkout ships, by name: not whatever environments/ holds now, where
# `python -m healthsuite init` writes a user's own (environments/NAME.yaml) beside them.
SHIPPED = ["demo", "local", "production", "staging"]


def available() -> str:
    """How a lookup of an unknown name lists environments/ as it is now (the shipped and any of the user's)."""
    return ", ".join(sorted(p.stem for p in ENVIRONMENTS.glob("*.yaml")))

MINIMAL = "name: t\nkind: test\n"


def load_text(tmp_path: Path, text: str, environ: dict[str, str] | None = None):
    path = tmp_path / "staging.yaml"
    path.write_text(text)
    return load_environment(path, environ or {})


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(EnvironmentFileError) as info:
        load_text(tmp_path, text)
    return str(info.value)


def test_shipped_environments_are_the_four_expected() -> None:
    assert all((ENVIRONMENTS / f"{name}.yaml").is_file() for name in SHIPPED)
    git = shutil.which("git")
    if git is None or not (ENVIRONMENTS.parent / ".git").exists():
        pytest.skip("not a git checkout: which environment files are shipped is known from git ls-files")
    tracked = subprocess.run([git, "ls-files", "--", "*.yaml"], cwd=ENVIRONMENTS, capture_output=True, text=True,
                             timeout=30, check=True).stdout.split()
    assert sorted(Path(name).stem for name in tracked) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_environment_loads_without_secrets(name: str, demo_ca_dir: Path) -> None:
    env = load_environment(ENVIRONMENTS / f"{name}.yaml", {"HEALTHSUITE_DEMO_DIR": str(demo_ca_dir)})
    assert env.name == name
    assert env.model.kind != "production" or not env.model.allow_mutating


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_environment_validates_against_the_json_schema(name: str) -> None:
    schema = json.loads((ENVIRONMENTS / "schema.json").read_text())
    jsonschema.validate(yaml.safe_load((ENVIRONMENTS / f"{name}.yaml").read_text()), schema)


def test_schema_json_is_current() -> None:
    assert (ENVIRONMENTS / "schema.json").read_text() == render(), "run: python -m healthsuite.environment.schema"


def test_json_schema_rejects_unknown_keys() -> None:
    schema = json.loads((ENVIRONMENTS / "schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "kind": "test", "pagez": []}, schema)


def test_production_and_staging_name_real_domains_and_never_loopback() -> None:
    for name in ("production", "staging"):
        env = load_environment(ENVIRONMENTS / f"{name}.yaml", {})  # no CA bundle, nothing to resolve
        for base in env.model.base_urls.values():
            assert base.raw.startswith("https://") and "127.0.0.1" not in base.raw and "localhost" not in base.raw


# --- one fixture per rule ----------------------------------------------------------------------------

CASES = {
    "unknown key with a suggestion": (
        MINIMAL + "pagez:\n  - {name: home, path: /}\n",
        ["line 3", "pagez: unknown key", "did you mean `pages`?"],
    ),
    "unknown nested key": (
        MINIMAL + "base_urls: {app: 'https://x.example'}\npages:\n  - name: home\n    path: /\n    expected_status: 200\n",
        ["line 7", "pages[0].expected_status: unknown key", "did you mean `expect_status`?"],
    ),
    "wrong type": (
        MINIMAL + "base_urls: {app: 'https://x.example'}\npages:\n  - name: home\n    path: /\n    expect_status: ok\n",
        ["line 7", "pages[0].expect_status", "(got 'ok')", "fix: write a whole number, e.g. 200"],
    ),
    "missing kind": (
        "name: t\n",
        ["kind: Field required", "fix: add `kind` (production never allows mutating checks.)"],
    ),
    "unknown kind": (
        "name: t\nkind: prod\n",
        ["line 2", "kind: Input should be", "fix: use one of: production, staging, development, demo or test"],
    ),
    "production allows mutating": (
        "name: p\nkind: production\nallow_mutating: true\n",
        ["a production environment cannot allow mutating checks", "fix: remove allow_mutating"],
    ),
    "literal password in a DSN": (
        MINIMAL + "databases:\n  - name: main\n    engine: postgresql\n    dsn: postgresql://app:hunter2@db/app\n",
        ["line 6", "databases[0].dsn", "literal password", "${PGPASSWORD}"],
    ),
    "literal redis password": (
        MINIMAL + "caches:\n  - name: c\n    url: redis://cache:6379/0\n    password: hunter2\n",
        ["caches[0].password", "a secret is written literally", "fix: reference it instead"],
    ),
    "database without engine": (
        MINIMAL + "databases:\n  - name: main\n    dsn: postgresql://db/app\n",
        ["line 4", "databases[0]", "fix: add `engine` with one of postgresql, sqlite"],
    ),
    "unknown threshold": (
        MINIMAL + "thresholds:\n  DB3: {max_conn: 70}\n",
        ["thresholds", "DB3 has no threshold max_conn", "fix: its thresholds are: max_connections_pct"],
    ),
    "unknown diagnosis in severity_overrides": (
        MINIMAL + "severity_overrides:\n  AV9: low\n",
        ["severity_overrides", "unknown diagnosis 'AV9'"],
    ),
    "base url not declared": (
        MINIMAL + "base_urls: {app: 'https://x.example'}\npages:\n  - {name: home, path: /, base: api}\n",
        ["uses base 'api', which base_urls does not declare (known: app)"],
    ),
    "name used twice": (
        MINIMAL + "base_urls: {app: 'https://x.example'}\npages:\n  - {name: home, path: /}\n  - {name: home, path: /a}\n",
        ["pages: the name 'home' is used twice"],
    ),
    "bad name": (
        MINIMAL + "base_urls: {app: 'https://x.example'}\npages:\n  - {name: Home Page, path: /}\n",
        ["pages[0].name", "fix: use lower-case letters"],
    ),
    "body condition without operator": (
        MINIMAL + "base_urls: {app: 'https://x.example'}\nhealth:\n  - name: api\n    path: /h\n    body:\n      - {path: status}\n",
        ["health[0].body[0]", "needs exactly one operator", "fix: write one of equals"],
    ),
    "path without slash": (
        MINIMAL + "base_urls: {app: 'https://x.example'}\npages:\n  - {name: home, path: index.html}\n",
        ["must start with '/'", "fix: write /index.html"],
    ),
    "malformed variable reference": (
        MINIMAL + "base_urls: {app: 'https://${HOST'}\n",
        ["base_urls.app", "malformed variable reference"],
    ),
    "severity typo": (
        MINIMAL + "severity_overrides: {AV1: urgent}\n",
        ["severity_overrides.AV1", "fix: use one of: critical, high, medium or low"],
    ),
    "data mapping expression with a second statement": (
        MINIMAL + "databases:\n  - name: main\n    engine: postgresql\n    dsn: postgresql://db/app\n"
        "    data:\n      api_keys: {active: \"NOT revoked; DELETE FROM api_keys\"}\n",
        ["line 8", "databases[0].data.api_keys.active", "is neither a column name nor one SQL expression",
         "contains `;`", "fix: write one read-only SQL expression", "NOT revoked"],
    ),
    "data mapping expression hiding a statement in a comment": (
        MINIMAL + "databases:\n  - name: main\n    engine: postgresql\n    dsn: postgresql://db/app\n"
        "    data:\n      sessions:\n        last_activity: \"last_seen /* ) OR true */\"\n",
        ["line 9", "databases[0].data.sessions.last_activity", "contains a comment"],
    ),
    "data mapping expression with a subquery": (
        MINIMAL + "databases:\n  - name: main\n    engine: postgresql\n    dsn: postgresql://db/app\n"
        "    data:\n      api_keys: {active: \"id IN (SELECT id FROM api_keys)\"}\n",
        ["line 8", "databases[0].data.api_keys.active", "contains the keyword SELECT"],
    ),
    "data mapping expression that is a list": (
        MINIMAL + "databases:\n  - name: main\n    engine: postgresql\n    dsn: postgresql://db/app\n"
        "    data:\n      auth_attempts: {success: \"ok, 1\"}\n",
        ["line 8", "databases[0].data.auth_attempts.success", "is a list"],
    ),
    "data mapping expression escaping its parentheses": (
        MINIMAL + "databases:\n  - name: main\n    engine: postgresql\n    dsn: postgresql://db/app\n"
        "    data:\n      bookings: {created_at: \"now()) OR (true\"}\n",
        ["line 8", "databases[0].data.bookings.created_at", "closes a parenthesis it did not open"],
    ),
    "data mapping expression with an effect": (
        MINIMAL + "databases:\n  - name: main\n    engine: postgresql\n    dsn: postgresql://db/app\n"
        "    data:\n      payments: {created_at: \"created_at + pg_sleep(5)::text::interval\"}\n",
        ["line 8", "databases[0].data.payments.created_at", "calls pg_sleep()"],
    ),
    "data mapping expression in a key that names a column only": (
        MINIMAL + "databases:\n  - name: main\n    engine: postgresql\n    dsn: postgresql://db/app\n"
        "    data:\n      api_keys: {user_id: \"lower(owner)\"}\n",
        ["line 8", "databases[0].data.api_keys.user_id", "is not a table or column name"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_file_names_file_line_key_and_fix(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    message = error_of(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'staging.yaml'}: invalid environment file"), message
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message}"
    assert "fix:" in message


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    message = error_of(tmp_path, "name: t\nkind: prod\npagez: []\ntimeouts: {http_s: -1}\n")
    assert "(3 problems)" in message
    assert "kind:" in message and "pagez: unknown key" in message and "timeouts.http_s" in message


def test_literal_secret_is_not_echoed_in_the_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, MINIMAL + "caches:\n  - name: c\n    url: redis://c:6379/0\n    password: hunter2secret\n")
    assert "hunter2secret" not in message


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    message = error_of(tmp_path, MINIMAL + "pages:\n  - name: home\n   path: /\n")
    assert "staging.yaml: line 5 column 4: pages[0]: not valid YAML" in message and "fix: check the indentation" in message


def test_duplicate_keys_are_an_error_not_a_silent_overwrite(tmp_path: Path) -> None:
    message = error_of(tmp_path, MINIMAL + "pages: []\ntimeouts: {}\npages: []\n")
    assert "line 5: pages: declared twice (first on line 3)" in message


def test_not_a_mapping(tmp_path: Path) -> None:
    assert "is a mapping of keys" in error_of(tmp_path, "- just\n- a list\n")


def test_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    assert load_text(tmp_path, "kind: test\n").name == "staging"


# --- variables ---------------------------------------------------------------------------------------


def test_unset_variable_is_not_a_load_error_and_names_itself_when_needed(tmp_path: Path) -> None:
    env = load_text(tmp_path, MINIMAL + "databases:\n  - {name: main, engine: postgresql, dsn: '${DATABASE_URL}'}\n")
    assert env.missing_variables() == ["DATABASE_URL"]
    with pytest.raises(MissingVariable) as info:
        env.resolve(env.model.databases[0].dsn, env.where(env.model.databases[0], "dsn"))
    assert info.value.reason().startswith("DATABASE_URL is not set (referenced by databases[main].dsn in staging.yaml)")


def test_secrets_file_is_read_and_the_process_environment_wins(tmp_path: Path) -> None:
    (tmp_path / "secrets.env").write_text("# comment\nexport A_TOKEN='from-file-1234'\nB_TOKEN=from-file-5678\n")
    env = load_text(tmp_path, MINIMAL + "secrets_file: secrets.env\n", {"B_TOKEN": "from-process-9999"})
    assert env.variables["A_TOKEN"] == "from-file-1234" and env.variables["B_TOKEN"] == "from-process-9999"


def test_missing_secrets_file_is_a_note_not_an_error(tmp_path: Path) -> None:
    env = load_text(tmp_path, MINIMAL + "secrets_file: nowhere.env\n")
    assert "does not exist" in env.notes[0]


def test_template_syntax() -> None:
    template = Template("postgresql://u:${PW}@${HOST:-localhost}:${PORT:-5432}/db?x=$$1")
    assert template.required_variables() == ("PW",)
    assert template.resolve({"PW": "s3cret"}) == "postgresql://u:s3cret@localhost:5432/db?x=$1"
    assert template.resolve({"PW": "p", "HOST": "db", "PORT": ""}) == "postgresql://u:p@db:5432/db?x=$1"
    with pytest.raises(MissingVariable):
        template.resolve({})


def test_read_dotenv_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "s.env"
    path.write_text("NOT A LINE\n")
    with pytest.raises(ValueError, match="line 1: expected KEY=VALUE"):
        read_dotenv(path)


# --- choosing the environment ------------------------------------------------------------------------


def test_precedence_cli_then_variable_then_ini() -> None:
    assert choose_environment("a", {"HEALTHSUITE_ENV": "b"}, "c").source == "--env"
    assert choose_environment(None, {"HEALTHSUITE_ENV": "b"}, "c").value == "b"
    assert choose_environment(None, {}, "c").source == "ini healthsuite_env"
    assert choose_environment(None, {}, "") is None


def test_locate_by_name_and_by_path(tmp_path: Path) -> None:
    assert locate("demo", ENVIRONMENTS, tmp_path) == ENVIRONMENTS / "demo.yaml"
    (tmp_path / "mine.yaml").write_text(MINIMAL)
    assert locate("mine.yaml", ENVIRONMENTS, tmp_path) == tmp_path / "mine.yaml"
    with pytest.raises(EnvironmentFileError) as info:
        locate("prod", ENVIRONMENTS, tmp_path)
    assert f"available: {available()};" in str(info.value)
    assert all(name in available().split(", ") for name in SHIPPED)


def test_an_error_inside_an_optional_section_names_the_whole_key(tmp_path: Path) -> None:
    path = tmp_path / "kp.yaml"
    path.write_text("kind: test\nintegrations:\n  calendar:\n    url: https://x.test/cal\n    token: literal-token-4242\n")
    with pytest.raises(EnvironmentFileError) as error:
        load_environment(path)
    assert "line 5: integrations.calendar.token: a token is written literally" in str(error.value)
    assert "literal-token-4242" not in str(error.value)
