"""The demo's deployment configuration files (DEP3-DEP6), under `<dir>/deploy/`:

- `.env.example` and `.env.production` (DEP4: same keys; DEP3 reads the required variables from
  `.env.production`, the file the application would load);
- `wrangler.toml` with a route, `[vars]`, the D1 binding `DB` and the KV binding `SESSIONS` (DEP5);
- `dist/worker.js`, a small bundle (DEP6).

Faults (each undone by writing the healthy file back):
- DEP3: `HEALTHSUITE_DEMO_DEPLOY_TOKEN` is emptied in `.env.production` (the key stays, so DEP4 passes);
- DEP4: `LOG_LEVEL` (not a required variable, so DEP3 passes) is removed from `.env.production`;
- DEP5: the `[[d1_databases]]` binding `DB` is removed from `wrangler.toml`;
- DEP6: `dist/worker.js` grows past Cloudflare's 3 MB gzip limit (random bytes do not compress).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

FAULTS: dict[str, str] = {
    "DEP3": "empty the required HEALTHSUITE_DEMO_DEPLOY_TOKEN in deploy/.env.production",
    "DEP4": "remove LOG_LEVEL from deploy/.env.production (it stays in .env.example)",
    "DEP5": "remove the D1 binding DB from deploy/wrangler.toml",
    "DEP6": "grow deploy/dist/worker.js past the 3 MB gzip limit",
}

ROUTE = "booking.demo.test/*"
REQUIRED = ("DATABASE_URL", "JWT_SECRET", "HEALTHSUITE_DEMO_DEPLOY_TOKEN")
# a made-up value: the demo token is not a credential for anything (DEP3 only checks it is non-empty)
_ENV = {
    "DATABASE_URL": "postgresql://booking@127.0.0.1/booking",
    "JWT_SECRET": "demo-jwt-secret-not-used-anywhere",
    "HEALTHSUITE_DEMO_DEPLOY_TOKEN": "demo-deploy-token-0f3a9c",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "LOG_LEVEL": "info",
    "APP_ENV": "production",
}
WRANGLER = f"""name = "booking-demo"
main = "dist/worker.js"
compatibility_date = "2024-09-01"
routes = [{{ pattern = "{ROUTE}", zone_name = "demo.test" }}]

[vars]
APP_ENV = "production"
API_ENDPOINT = "https://booking.demo.test/api"

[[d1_databases]]
binding = "DB"
database_name = "booking-demo"
database_id = "00000000-0000-0000-0000-000000000001"

[[kv_namespaces]]
binding = "SESSIONS"
id = "0000000000000000000000000000000a"
"""
WORKER = (
    "export default {\n  async fetch(request, env) {\n"
    "    return new Response(JSON.stringify({ status: 'ok' }), { headers: { 'content-type': 'application/json' } });\n"
    "  },\n};\n"
)
OVERSIZED_BYTES = 3 * 1024 * 1024 + 256 * 1024


def _deploy(stack: Any) -> Path:
    return Path(stack.directory) / "deploy"


def _env_text(values: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


def _files(stack: Any) -> dict[Path, bytes]:
    deploy = _deploy(stack)
    return {
        deploy / ".env.example": _env_text({key: "" for key in _ENV}).encode(),
        deploy / ".env.production": _env_text(_ENV).encode(),
        deploy / "wrangler.toml": WRANGLER.encode(),
        deploy / "dist" / "worker.js": WORKER.encode(),
    }


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def prepare(stack: Any) -> None:
    for path, data in _files(stack).items():
        _write(path, data, 0o600 if path.name == ".env.production" else 0o644)


Edit = Callable[[list[str]], list[str]]


def _edit(path: Path, change: Edit, restore: Edit) -> Callable[[], None]:
    """Apply `change` to the file's lines now; the undo applies `restore` to whatever the file then holds, so
    two faults on one file (DEP3 and DEP4) are made and undone independently."""

    def apply(edit: Edit) -> None:
        mode = path.stat().st_mode & 0o777
        _write(path, "".join(edit(path.read_text(encoding="utf-8").splitlines(keepends=True))).encode(), mode)

    apply(change)
    return lambda: apply(restore)


def _set_line(key: str, value: str | None, after: str | None = None) -> Edit:
    """Set KEY=value (None: remove the line); a missing line is inserted after `after` (or at the end)."""

    def edit(lines: list[str]) -> list[str]:
        kept = [line for line in lines if not line.startswith(f"{key}=")]
        if value is None:
            return kept
        position = next((i + 1 for i, line in enumerate(kept) if after and line.startswith(f"{after}=")), len(kept))
        if len(kept) < len(lines):
            position = next(i for i, line in enumerate(lines) if line.startswith(f"{key}="))
        return [*kept[:position], f"{key}={value}\n", *kept[position:]]

    return edit


def inject(diagnosis: str, stack: Any) -> Callable[[], None]:
    deploy = _deploy(stack)
    production = deploy / ".env.production"
    if diagnosis == "DEP3":
        token = "HEALTHSUITE_DEMO_DEPLOY_TOKEN"
        return _edit(production, _set_line(token, ""), _set_line(token, _ENV[token]))
    if diagnosis == "DEP4":
        return _edit(production, _set_line("LOG_LEVEL", None), _set_line("LOG_LEVEL", _ENV["LOG_LEVEL"], "REDIS_URL"))
    if diagnosis == "DEP5":
        path = deploy / "wrangler.toml"
        start = WRANGLER.index("[[d1_databases]]")
        data = (WRANGLER[:start] + WRANGLER[WRANGLER.index("[[kv_namespaces]]"):]).encode()
    elif diagnosis == "DEP6":
        path, data = deploy / "dist" / "worker.js", WORKER.encode() + b"// " + os.urandom(OVERSIZED_BYTES)
    else:
        raise ValueError(f"no demo fault for {diagnosis} here")
    healthy = _files(stack)[path]
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    _write(path, data, mode)
    return lambda: _write(path, healthy, mode)
