"""Mirrors checks/test_cache.py. CACHE1 against a throwaway Redis: PING with credentials passes; refused,
wrong password, missing password and a hung server fail with their sentence, category and severity.
CACHE2 on a throwaway Redis that rejected connections."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from healthsuite.demo.stack import DemoStack
from healthsuite.testing.listeners import SilentListener
from healthsuite.testing.ports import free_port
from healthsuite.testing.redis_server import RedisServer
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


def test_CACHE1_passes_with_credentials(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "CACHE1")
    record = run.assert_outcome("CACHE1", "sessions", "passed", category="cache", severity="high")
    assert record["observed"].startswith("PONG in") and "Redis 7" in record["observed"]


def test_CACHE1_fails_when_redis_is_stopped(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.break_(["CACHE1"])
    run = run_checks("--diagnosis", "CACHE1")
    record = run.assert_outcome("CACHE1", "sessions", "failed", category="cache", severity="high")
    assert record["observed"].startswith("connection refused")
    assert "redis-cli" in record["message"]


def test_CACHE1_fails_with_wrong_password(run_checks: RunChecks, stack: DemoStack, env_file) -> None:
    assert stack.redis is not None
    env = env_file(cache_env(f"redis://127.0.0.1:{stack.redis.port}/0", "${WRONG_REDIS_PASSWORD}"))
    run = run_checks("--diagnosis", "CACHE1", env=env, environ={"WRONG_REDIS_PASSWORD": "wrong-redis-secret"})
    record = run.assert_outcome("CACHE1", "sessions", "failed", category="cache", severity="high")
    assert record["observed"].startswith("authentication failed")
    assert "wrong-redis-secret" not in run.output + str(run.report)


def test_CACHE1_fails_without_password_when_one_is_required(run_checks: RunChecks, stack: DemoStack, env_file) -> None:
    assert stack.redis is not None
    run = run_checks("--diagnosis", "CACHE1", env=env_file(cache_env(f"redis://127.0.0.1:{stack.redis.port}/0")))
    record = run.assert_outcome("CACHE1", "sessions", "failed", category="cache", severity="high")
    assert record["observed"].startswith("authentication failed")


def test_CACHE1_fails_with_timeout_on_a_hung_server(run_checks: RunChecks, env_file) -> None:
    with SilentListener() as silent:
        run = run_checks("--diagnosis", "CACHE1", env=env_file(cache_env(f"redis://{silent.host}:{silent.port}/0", timeout=0.5)))
    record = run.assert_outcome("CACHE1", "sessions", "failed", category="cache", severity="high")
    assert record["observed"].startswith("timed out")


def test_CACHE1_fails_when_nothing_listens(run_checks: RunChecks, env_file) -> None:
    run = run_checks("--diagnosis", "CACHE1", env=env_file(cache_env(f"redis://127.0.0.1:{free_port()}/0")))
    run.assert_outcome("CACHE1", "sessions", "failed", category="cache", severity="high")


# --- CACHE2: rejected connections, on a throwaway Redis of its own ------------------------------------------


def test_CACHE2_fails_on_rejected_connections(
    run_checks: RunChecks, env_file: Callable[[str], Path], tmp_path: Path
) -> None:
    with RedisServer(tmp_path / "redis") as server:
        holder = redis.Redis(host=server.host, port=server.port, socket_timeout=2)
        holder.ping()
        holder.config_set("maxclients", 1)
        with pytest.raises(redis.ConnectionError, match="max number of clients"):
            redis.Redis(host=server.host, port=server.port, socket_timeout=2).ping()
        holder.config_set("maxclients", 100)
        holder.close()
        path = env_file(f"name: rejected\nkind: test\ncaches:\n  - {{name: busy, url: 'redis://127.0.0.1:{server.port}/0'}}\n")
        run = run_checks("--diagnosis", "CACHE2,PERF7", env=path)
    record = run.assert_outcome("CACHE2", "busy", "failed", category="cache", severity="medium")
    assert record["facts"]["rejected_connections"] >= 1  # redis-py retried the refused connection
    assert f"; {record['facts']['rejected_connections']} rejected connections since the server started" in record["observed"]
    assert "maxclients" in record["message"] and "config resetstat" in record["message"]
    run.assert_outcome("PERF7", "busy", "passed", category="performance", severity="medium")
