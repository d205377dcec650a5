"""Mirrors checks/test_auth.py. AUTH1-AUTH4 and AUTH7 against the demo app (its OIDC provider stand-in under
/__oidc, /api/auth/*) and the demo's Redis: each passes when healthy and fails on its own fault, naming the
observed value; no JWT secret and no token minted from it reaches the terminal, the JSON report or JUnit.
AUTH6 against the demo's PostgreSQL (stale sessions); AUTH5's demo fault; the auth block's declarations."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from healthsuite.demo.app import auth as app_auth
from healthsuite.demo.stack import DemoStack
from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.probes.auth import literal_prefix, shown_key
from tests.checks.support import assert_only_its_own_demo_fault_fails, broken, data_env, database, port
from tests.conftest import CheckRun, RunChecks

AUTH = "AUTH1,AUTH2,AUTH3,AUTH4,AUTH7"
CATEGORY = "auth"


def auth_env(stack: DemoStack, auth: str | None = None) -> str:
    """A file aimed at the demo's HTTPS app (its CA trusted) and Redis, with an `auth` block."""
    port = stack.ports.https
    auth = auth or f"""
  discovery: {{path: /__oidc/.well-known/openid-configuration}}
  sign_in: {{path: /api/auth/signin, redirect_to: "https://127.0.0.1:{port}/__oidc/authorize"}}
  protected: {{path: /api/auth/me}}
  verify:
    path: /api/auth/verify
    secret: ${{T_JWT_SECRET}}
    claims: {{sub: usr-2, aud: booking-demo}}
  refresh_tokens: {{cache: sessions, pattern: "refresh_token:*"}}
"""
    assert stack.redis is not None
    return f"""
name: auth
kind: test
base_urls:
  app: https://127.0.0.1:{port}
http:
  ca_bundle: {stack.directory / "ca.pem"}
timeouts: {{http_s: 3, cache_s: 2}}
caches:
  - name: sessions
    url: redis://127.0.0.1:{stack.redis.port}/0
    password: ${{T_REDIS_PASSWORD}}
auth:{auth}"""


def secrets_of(stack: DemoStack) -> dict[str, str]:
    assert stack.redis is not None and stack.redis.password
    return {"T_JWT_SECRET": app_auth.jwt_secret(stack.faults), "T_REDIS_PASSWORD": stack.redis.password}


def assert_no_secret_in_outputs(run: CheckRun, stack: DemoStack, tmp_path: Path) -> None:
    """The JWT secret, the Redis password and every token the app received stay out of every output."""
    texts = {"terminal": run.output}
    for path in [*run.reports_dir.rglob("*"), *tmp_path.glob("junit-*.xml")]:
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    tokens = app_auth.received_tokens(stack.faults)
    assert any(t.count(".") == 2 and len(t) > 40 for t in tokens), tokens  # minted JWTs were sent
    for value in [*secrets_of(stack).values(), *(t for t in tokens if t != "healthsuite.malformed.token")]:
        leaks = [where for where, text in texts.items() if value in text]
        assert not leaks, f"{value[:12]}... appears in {leaks}"


@pytest.fixture
def refresh_keys(stack: DemoStack) -> Iterator[list[str]]:
    """Healthy refresh tokens (with a TTL) in the demo's Redis; removed afterwards."""
    assert stack.redis is not None
    keys = [f"refresh_token:usr-{n}:abc{n}" for n in (1, 2)]
    for key in keys:
        stack.redis.command("SET", key, "user", "EX", 3600)
    yield keys
    if stack.redis.is_running():
        stack.redis.command("DEL", *keys)


def test_AUTH1_AUTH2_AUTH3_AUTH4_AUTH7_pass_on_the_healthy_demo(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path], tmp_path: Path, refresh_keys: list[str]
) -> None:
    run = run_checks("--diagnosis", AUTH, env=env_file(auth_env(stack)), environ=secrets_of(stack))
    base = f"https://127.0.0.1:{stack.ports.https}"

    record = run.assert_outcome("AUTH1", "oidc", "passed", category=CATEGORY, severity="high")
    assert f"issuer '{base}/__oidc'" in record["observed"] and "jwks 1 key(s)" in record["observed"]
    assert record["facts"]["jwks_uri"] == f"{base}/__oidc/jwks"

    record = run.assert_outcome("AUTH2", "sign-in", "passed", category=CATEGORY, severity="high")
    assert record["observed"].startswith(f"HTTP 302 -> Location {base}/__oidc/authorize?response_type=code")

    record = run.assert_outcome("AUTH3", "protected", "passed", category=CATEGORY, severity="high")
    assert record["observed"] == (
        "no token -> HTTP 401 (AUTH002 (Missing authentication header)); "
        "malformed token -> HTTP 401 (AUTH001 (Invalid JWT token)); "
        "token signed with a wrong secret -> HTTP 401 (AUTH001 (Invalid JWT token)); "
        "expired token -> HTTP 401 (AUTH001 (Invalid JWT token)); "
        "unsigned token (alg none) -> HTTP 401 (AUTH001 (Invalid JWT token))"
    )
    assert "the expired one signed with the configured secret ${T_JWT_SECRET}" in record["expected"]

    record = run.assert_outcome("AUTH4", "verify", "passed", category=CATEGORY, severity="high")
    assert record["observed"].startswith("HTTP 200 for a HS256 token with claims aud, sub and exp in 60 s")
    assert abs(record["facts"]["clock_skew_s"]) <= 2

    record = run.assert_outcome("AUTH7", "refresh-tokens", "passed", category=CATEGORY, severity="medium")
    assert record["observed"].startswith("all 2 key(s) matching 'refresh_token:*' on 127.0.0.1:")
    assert re.search(r"shortest 60 min, longest 60 min\)$", record["observed"]), record["observed"]
    assert_no_secret_in_outputs(run, stack, tmp_path)


def test_AUTH1_AUTH2_AUTH3_AUTH4_AUTH7_each_demo_fault_fails_its_diagnosis(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    stack.break_(["AUTH1", "AUTH2", "AUTH3", "AUTH4", "AUTH7"])
    run = run_checks("--diagnosis", AUTH, env=env_file(auth_env(stack)), environ=secrets_of(stack))
    base = f"https://127.0.0.1:{stack.ports.https}"

    record = run.assert_outcome("AUTH1", "oidc", "failed", category=CATEGORY, severity="high")
    assert record["observed"].startswith(f"{base}/__oidc/.well-known/openid-configuration: HTTP 500")
    assert "500 Internal Server Error" in record["message"]

    record = run.assert_outcome("AUTH2", "sign-in", "failed", category=CATEGORY, severity="high")
    assert record["observed"] == "HTTP 500 (AUTH003 (OAuth configuration error))"
    assert "The sign-in route throws" in record["message"] and "AUTH003: Verify Google OAuth setup." in record["message"]

    record = run.assert_outcome("AUTH3", "protected", "failed", category=CATEGORY, severity="high")
    assert "malformed token -> HTTP 500;" in record["observed"]
    assert "a malformed token crashes the request (5xx) instead of getting 401" in record["message"]
    assert record["facts"]["cases"] == {
        "no_token": 401, "malformed": 500, "wrong_secret": 401, "expired": 401, "unsigned": 401,
    }

    record = run.assert_outcome("AUTH4", "verify", "failed", category=CATEGORY, severity="high")
    assert record["observed"].startswith("HTTP 401 (AUTH001 (Invalid JWT token)) for a HS256 token")
    assert "the backend's JWT secret differs" in record["message"]

    record = run.assert_outcome("AUTH7", "refresh-tokens", "failed", category=CATEGORY, severity="medium")
    assert record["observed"].startswith("3 of 4 key(s) matching 'refresh_token:*'")
    assert re.search(r"have no TTL \(TTL -1\), e\.g\. refresh_token:usr-[23]:", record["observed"])
    assert "...(43 chars) (string)" in record["observed"]  # a long segment (it may be the token) is shortened
    assert "--scan --pattern 'refresh_token:*'" in record["message"] and "redis-cli -h 127.0.0.1 -p " in record["message"]
    assert_no_secret_in_outputs(run, stack, tmp_path)

    stack.heal()
    healed = run_checks("--diagnosis", AUTH, env=env_file(auth_env(stack)), environ=secrets_of(stack))
    assert [r["outcome"] for r in healed.report["checks"]] == ["passed"] * 5, healed.output


def test_AUTH3_AUTH1_an_endpoint_accepting_any_token_is_critical_and_a_document_without_jwks_uri_fails(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    stack.faults.set_mode("auth_protected", "accept_any")
    stack.faults.set_mode("auth_oidc", "no_jwks_uri")
    run = run_checks("--diagnosis", "AUTH1,AUTH3", env=env_file(auth_env(stack)), environ=secrets_of(stack))
    record = run.assert_outcome("AUTH3", "protected", "failed", category=CATEGORY, severity="critical")
    assert "no token -> HTTP 401" in record["observed"] and "unsigned token (alg none) -> HTTP 200" in record["observed"]
    assert "SECURITY: the endpoint accepts a malformed token" in record["message"]
    assert "accepts `alg: none`" in record["message"] and "call the security lead" in record["message"]
    record = run.assert_outcome("AUTH1", "oidc", "failed", category=CATEGORY, severity="high")
    assert record["observed"].endswith("openid-configuration: jwks_uri is absent")


def test_AUTH4_AUTH3_unset_secret_skips_AUTH4_but_not_AUTH3_and_cookies_carry_tokens(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    body = """
  protected: {path: /api/auth/me, cookie: session}
  verify: {path: /api/auth/verify, secret: "${T_JWT_SECRET}", claims: {sub: usr-2, aud: booking-demo}, cookie: session}
"""
    path = env_file(auth_env(stack, body))
    unset = run_checks("--diagnosis", "AUTH3,AUTH4", env=path, environ={"T_JWT_SECRET": ""})
    record = unset.assert_outcome("AUTH4", "verify", "skipped", category=CATEGORY, severity="high")
    assert "T_JWT_SECRET is not set (referenced by auth.verify[verify].secret" in record["message"]
    record = unset.assert_outcome("AUTH3", "protected", "passed", category=CATEGORY, severity="high")
    assert "sent as cookie session; the expired one signed with a random secret (T_JWT_SECRET is not set)" in (
        record["expected"]
    )
    run = run_checks("--diagnosis", "AUTH4", env=path, environ=secrets_of(stack))
    record = run.assert_outcome("AUTH4", "verify", "passed", category=CATEGORY, severity="high")
    assert "sent as cookie session" in record["observed"]


def test_AUTH7_scan_is_bounded_and_a_missing_cache_is_named(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    assert stack.redis is not None
    keys = [f"refresh_token:usr-{n}:x" for n in range(5)]
    for key in keys:
        stack.redis.command("SET", key, "user")  # no TTL
    try:
        body = """
  refresh_tokens: {cache: sessions, max_keys: 2, scan_count: 1}
"""
        run = run_checks("--diagnosis", "AUTH7", env=env_file(auth_env(stack, body)), environ=secrets_of(stack))
        record = run.assert_outcome("AUTH7", "refresh-tokens", "failed", category=CATEGORY, severity="medium")
        assert record["observed"].startswith("2 of 2 key(s) matching 'refresh_token:*'")
        assert "(scan stopped after 2 keys (max_keys): the rest were not examined)" in record["observed"]
        assert record["facts"]["complete"] is False
    finally:
        stack.redis.command("DEL", *keys)
    path = env_file(auth_env(stack, "\n  refresh_tokens: {cache: tokens}\n"))
    run = run_checks("--diagnosis", "AUTH7", env=path, environ=secrets_of(stack))
    if run.result.ret == pytest.ExitCode.USAGE_ERROR:  # once Environment validates the reference at load time
        assert "auth.refresh_tokens" in run.output and "tokens" in run.output and "sessions" in run.output
    else:
        record = run.assert_outcome("AUTH7", "refresh-tokens", "failed", category=CATEGORY, severity="medium")
        assert record["observed"] == "auth.refresh_tokens names cache 'tokens'; declared caches: sessions"


@pytest.mark.parametrize(
    ("block", "problem", "fix"),
    [
        ("verify: {secret: s3cret}", "the JWT secret is written literally", "secret: ${JWT_SECRET}"),
        (
            "discovery: {url: 'https://accounts.google.com/.well-known/openid_configuration'}",
            "with a hyphen",
            "write /.well-known/openid-configuration",
        ),
        ("protected: {path: /me, expect_status: [200, 401]}", "would accept a bad token", "write 401"),
        ("verify: {secret: '${S}', claims: {exp: '1'}}", "exp cannot be set", "lifetime_s"),
    ],
)
def test_auth_declarations_are_validated_with_their_fix(tmp_path: Path, block: str, problem: str, fix: str) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(f"kind: test\nbase_urls: {{app: https://example.test}}\nauth:\n  {block}\n")
    with pytest.raises(EnvironmentFileError) as error:
        load_environment(path, {})
    assert problem in str(error.value) and fix in str(error.value)


def test_defaults_follow_the_runbooks(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(
        "kind: test\nbase_urls: {app: https://example.test}\ncaches: [{name: sessions, url: 'redis://cache:6379/0'}]\n"
        "auth: {discovery: {}, sign_in: {}, verify: {secret: '${JWT_SECRET}'}, refresh_tokens: {}}\n"
    )
    auth = load_environment(path, {}).model.auth
    assert auth is not None and auth.discovery and auth.sign_in and auth.verify and auth.refresh_tokens
    assert auth.discovery.url and auth.discovery.url.raw == "https://accounts.google.com/.well-known/openid-configuration"
    assert auth.sign_in.path == "/api/auth/signin" and 302 in auth.sign_in.expected_statuses
    assert auth.verify.path == "/auth/verify" and auth.verify.algorithm == "HS256"
    assert auth.refresh_tokens.pattern == "refresh_token:*"


def test_AUTH7_key_names_are_shortened_where_they_may_carry_a_token() -> None:
    assert literal_prefix("refresh_token:*") == "refresh_token:"
    assert shown_key(b"refresh_token:usr-2:" + b"a" * 43, "refresh_token:") == "refresh_token:usr-2:aaaaaa...(43 chars)"
    assert shown_key("other:1", "refresh_token:") == "other:1"


# --- AUTH5, AUTH6 on the demo's PostgreSQL ------------------------------------------------------------------


def test_AUTH6_fails_on_stale_sessions_over_a_small_threshold(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    env = env_file(data_env(
        stack, database("booking", port(stack), {"sessions": {}}),
        thresholds={"AUTH6": {"max_stale_sessions": 2, "max_sessions_per_user": 100}},
    ))
    with broken(stack, "AUTH6"):
        run = run_checks("--diagnosis", "AUTH6", env=env)
    record = run.assert_outcome("AUTH6", "booking", "failed", category="auth", severity="low")
    assert record["observed"].startswith("3 stale sessions (no activity for 7 days), oldest idle 10 days; ")
    assert "no user with more than 100 sessions" in record["observed"]
    assert record["observed"].endswith("; 10.3 % of 29 sessions stale: the stale count exceeds its limit (3 > 2); "
                                       "the share is within (10.3 % <= 20 %)"), record["observed"]
    assert "stale sessions are not being cleaned up" in record["message"]


def test_AUTH6_fails_on_the_stale_share_of_a_small_platform(run_checks: RunChecks, stack: DemoStack) -> None:
    """400 sessions, 160 (40 %) stale: under the count limit of 1000, over the share limit of 20 %."""
    with broken(stack, "AUTH6SHARE"):
        run = run_checks("--diagnosis", "AUTH6")
    record = run.assert_outcome("AUTH6", "booking", "failed", category="auth", severity="low")
    observed = record["observed"]
    assert observed.startswith("160 stale sessions (no activity for 7 days), oldest idle 10 days; "), observed
    assert observed.endswith(
        "; 40 % of 400 sessions stale: the stale share exceeds its limit (40 % > 20 %); the count is within "
        "(160 <= 1000)"
    ), observed
    assert "no user with more than 20 sessions active in the last 24 h" in observed
    assert "stale sessions are not being cleaned up" in record["message"]
    assert "at most 20 % of sessions without activity for 7 days" in record["expected"]


@pytest.mark.parametrize("diagnosis", ["AUTH5", "AUTH6"])
def test_AUTH5_AUTH6_demo_fault_fails_only_its_own_diagnosis(
    run_checks: RunChecks, stack: DemoStack, diagnosis: str
) -> None:
    assert_only_its_own_demo_fault_fails(run_checks, stack, diagnosis)
