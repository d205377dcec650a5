"""CACHE1 against a throwaway Redis: PING with credentials passes; refused, wrong password, missing
password and a hung server fail with their sentence, category and severity."""

from __future__ import annotations

from healthsuite.demo.stack import DemoStack
from healthsuite.testing.services import SilentListener, free_port
from tests.conftest import RunChecks


def cache_env(url: str, password: str | None = None, timeout: float = 1) -> str:
    password_line = f"    password: {password}\n" if password else ""
    return f"""
name: cache
kind: test
timeouts:
  cache_s: {timeout}
caches:
  - name: sessions
    url: {url}
{password_line}"""


def test_cache1_passes_with_credentials(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "CACHE1")
    record = run.assert_outcome("CACHE1", "sessions", "passed", category="cache", severity="high")
    assert record["observed"].startswith("PONG in") and "Redis 7" in record["observed"]


def test_cache1_fails_when_redis_is_stopped(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["CACHE1"])
    run = run_checks("--diagnosis", "CACHE1")
    record = run.assert_outcome("CACHE1", "sessions", "failed", category="cache", severity="high")
    assert record["observed"].startswith("connection refused")
    assert "redis-cli" in record["message"]


def test_cache1_fails_with_wrong_password(run_checks: RunChecks, stack: DemoStack, env_file) -> None:
    assert stack.redis is not None
    env = env_file(cache_env(f"redis://127.0.0.1:{stack.redis.port}/0", "${WRONG_REDIS_PASSWORD}"))
    run = run_checks("--diagnosis", "CACHE1", env=env, environ={"WRONG_REDIS_PASSWORD": "wrong-redis-secret"})
    record = run.assert_outcome("CACHE1", "sessions", "failed", category="cache", severity="high")
    assert record["observed"].startswith("authentication failed")
    assert "wrong-redis-secret" not in run.output + str(run.report)


def test_cache1_fails_without_password_when_one_is_required(run_checks: RunChecks, stack: DemoStack, env_file) -> None:
    assert stack.redis is not None
    run = run_checks("--diagnosis", "CACHE1", env=env_file(cache_env(f"redis://127.0.0.1:{stack.redis.port}/0")))
    record = run.assert_outcome("CACHE1", "sessions", "failed", category="cache", severity="high")
    assert record["observed"].startswith("authentication failed")


def test_cache1_fails_with_timeout_on_a_hung_server(run_checks: RunChecks, env_file) -> None:
    with SilentListener() as silent:
        run = run_checks("--diagnosis", "CACHE1", env=env_file(cache_env(f"redis://{silent.host}:{silent.port}/0", timeout=0.5)))
    record = run.assert_outcome("CACHE1", "sessions", "failed", category="cache", severity="high")
    assert record["observed"].startswith("timed out")


def test_cache1_fails_when_nothing_listens(run_checks: RunChecks, env_file) -> None:
    run = run_checks("--diagnosis", "CACHE1", env=env_file(cache_env(f"redis://127.0.0.1:{free_port()}/0")))
    run.assert_outcome("CACHE1", "sessions", "failed", category="cache", severity="high")
