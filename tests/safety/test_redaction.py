"""Secrets are masked wherever they would appear."""

from __future__ import annotations

from pathlib import Path

from healthsuite.environment.loader import load_environment
from healthsuite.environment.redaction import Redactor


def test_registered_secrets_and_url_passwords_are_masked() -> None:
    redactor = Redactor()
    redactor.add("tok-123456")
    redactor.add("ab")  # too short to search for
    text = "Bearer tok-123456 to postgresql://app:pa%40ss@db:5432/x and redis://:pw@cache:6379 ab"
    assert redactor.redact(text) == "Bearer *** to postgresql://app:***@db:5432/x and redis://:***@cache:6379 ab"
    assert redactor.redact_data({"k": ["tok-123456", 3]}) == {"k": ["***", 3]}


def test_loading_registers_secret_parts_but_not_ports(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(
        "kind: test\n"
        "databases:\n  - {name: m, engine: postgresql, dsn: 'postgresql://u:${PW}@127.0.0.1:${PORT}/db'}\n"
        "caches:\n  - {name: c, url: 'redis://127.0.0.1:6379/0', password: '${REDIS_PW}'}\n"
        "http:\n  headers: {Authorization: 'Bearer ${API_TOKEN}'}\n"
    )
    env = load_environment(path, {"PW": "pg-secret-1", "PORT": "55432", "REDIS_PW": "redis-secret-2", "API_TOKEN": "api-secret-3"})
    masked = env.redactor.redact("pg-secret-1 redis-secret-2 api-secret-3 Bearer api-secret-3 port 55432")
    assert masked == "*** *** *** *** port 55432"
