"""Targets as parameters: pytest_generate_tests parametrizes the target fixtures (page, database, ...)
from the environment."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from healthsuite.checkapi import declared
from healthsuite.environment.loaded import LoadedEnvironment
from healthsuite.model.declared import DeclaredCheck
from healthsuite.model.environment import (
    ApiEndpoint,
    Environment,
    HealthEndpoint,
    Page,
    PostgresDatabase,
    SqliteDatabase,
    Target,
)
from healthsuite.plugin.state import STATE


def _prefixed(target: Target) -> str:
    prefix = {Page: "page", HealthEndpoint: "health", ApiEndpoint: "endpoint"}.get(type(target), target.collection[:-1])
    return f"{prefix}-{target.name}"


def _some(target: object) -> list[Target]:
    """An optional single target as a parameter list."""
    return [target] if isinstance(target, Target) else []


# fixture name -> (targets of the environment, what to declare when there are none, id of a target)
TARGET_FIXTURES: dict[str, tuple[Callable[[Environment], Iterable[Target]], str, Callable[[Target], str]]] = {
    "page": (lambda m: m.pages, "`pages`", lambda t: t.name),
    "health_endpoint": (lambda m: m.health, "`health` endpoints", lambda t: t.name),
    "http_endpoint": (lambda m: m.http_targets(), "`pages`, `health` or `endpoints`", _prefixed),
    "database": (lambda m: m.databases, "`databases`", lambda t: t.name),
    "cache": (lambda m: m.caches, "`caches`", lambda t: t.name),
    "smoke_target": (lambda m: m.smoke_targets(), "targets with `smoke: true`", _prefixed),
    "hostname": (lambda m: m.hostnames, "`hostnames`", lambda t: t.name),
    "hostname_with_ranges": (
        lambda m: [h for h in m.hostnames if h.expect_in], "`hostnames` with `expect_in`", lambda t: t.name
    ),
    "hostname_with_cname": (
        lambda m: [h for h in m.hostnames if h.cname is not None], "`hostnames` with `cname`", lambda t: t.name
    ),
    "tls_endpoint": (lambda m: m.tls, "`tls` endpoints", lambda t: t.name),
    "cors_policy": (lambda m: m.cors, "`cors` policies", lambda t: t.name),
    "proxied_path": (lambda m: m.proxies, "`proxies`", lambda t: t.name),
    "service_port": (lambda m: m.ports, "`ports`", lambda t: t.name),
    "status_page": (lambda m: m.status_pages, "`status_pages`", lambda t: t.name),
    "version_source": (lambda m: m.versions, "`versions`", lambda t: t.name),
    "postgres": (
        lambda m: [d for d in m.databases if isinstance(d, PostgresDatabase)],
        "PostgreSQL `databases`",
        lambda t: t.name,
    ),
    "pool_status": (lambda m: m.pools, "`pools`", lambda t: t.name),
    "booking_submission": (lambda m: _some(m.booking and m.booking.submit), "`booking.submit`", lambda t: t.name),
    "tenant_page": (lambda m: m.booking.tenant_pages() if m.booking else [], "`booking.tenants`", lambda t: t.name),
    "payment_provider": (lambda m: _some(m.payments and m.payments.provider), "`payments.provider`", lambda t: t.name),
    "payment_webhook": (lambda m: _some(m.payments and m.payments.webhook), "`payments.webhook`", lambda t: t.name),
    "payment_initialize": (
        lambda m: _some(m.payments and m.payments.initialize), "`payments.initialize`", lambda t: t.name
    ),
    "oidc_discovery": (lambda m: _some(m.auth and m.auth.discovery), "`auth.discovery`", lambda t: t.name),
    "sign_in": (lambda m: _some(m.auth and m.auth.sign_in), "`auth.sign_in`", lambda t: t.name),
    "protected_endpoint": (lambda m: _some(m.auth and m.auth.protected), "`auth.protected`", lambda t: t.name),
    "token_verify": (lambda m: _some(m.auth and m.auth.verify), "`auth.verify`", lambda t: t.name),
    "refresh_tokens": (lambda m: _some(m.auth and m.auth.refresh_tokens), "`auth.refresh_tokens`", lambda t: t.name),
    "metrics_endpoint": (lambda m: m.metrics, "`metrics`", lambda t: t.name),
    "latency_target": (lambda m: m.latency, "`latency`", lambda t: t.name),
    "calendar_api": (lambda m: _some(m.integrations.calendar), "`integrations.calendar`", lambda t: t.name),
    "error_tracker": (lambda m: _some(m.integrations.error_tracker), "`integrations.error_tracker`", lambda t: t.name),
    "dependency": (lambda m: m.integrations.dependencies, "`integrations.dependencies`", lambda t: t.name),
    "sqlite": (
        lambda m: [d for d in m.databases if isinstance(d, SqliteDatabase)], "SQLite `databases`", lambda t: t.name
    ),
    "backup_set": (lambda m: m.backups, "`backups`", lambda t: t.name),
    "app_log": (
        lambda m: [g for g in m.logs if g.format in ("json", "regex")], "json or regex `logs`", lambda t: t.name
    ),
    "nginx_log": (lambda m: [g for g in m.logs if g.format == "nginx"], "nginx `logs`", lambda t: t.name),
    "postgres_log": (lambda m: [g for g in m.logs if g.format == "postgres"], "postgres `logs`", lambda t: t.name),
    "host": (lambda m: m.hosts, "`hosts`", lambda t: t.name),
    "required_variables": (lambda m: _some(m.deployment.variables), "`deployment.variables`", lambda t: t.name),
    "env_file_pair": (lambda m: m.deployment.env_files, "`deployment.env_files`", lambda t: t.name),
    "wrangler_config": (lambda m: _some(m.deployment.wrangler), "`deployment.wrangler`", lambda t: t.name),
    "worker_bundle": (lambda m: _some(m.deployment.bundle), "`deployment.bundle`", lambda t: t.name),
    "declared_check": (lambda m: m.declared_checks, "`declared_checks`", lambda t: t.name),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    env = metafunc.config.stash[STATE].env
    needs: str | None = getattr(metafunc.function, "healthsuite_needs", None)
    for fixture, (targets_of, what, id_of) in TARGET_FIXTURES.items():
        if fixture not in metafunc.fixturenames:
            continue
        if needs is not None:
            what = f"{what} with `{needs}`"
        if env is None:
            params = [pytest.param(None, id="no-environment", marks=pytest.mark.skip(reason="no environment selected"))]
        else:
            targets = sorted(
                (t for t in targets_of(env.model) if needs is None or declared(t, needs)), key=id_of
            )
            params = [pytest.param(t, id=id_of(t), marks=_own_marks(env, t)) for t in targets] or [
                pytest.param(None, id="none", marks=pytest.mark.skip(reason=f"no {what} declared in {env.path.name}"))
            ]
        metafunc.parametrize(fixture, params)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """An environment without `declared_checks` has no declared check to collect: not one skipped
    placeholder in every run and report (a shipped check's placeholder says what the file lacks)."""
    if collection_path.name != "test_declared.py":
        return None
    if collection_path.parent.name not in ("checks", "healthsuite_checks"):
        return None
    env = config.stash[STATE].env if STATE in config.stash else None
    return True if env is not None and not env.model.declared_checks else None


def _own_marks(env: LoadedEnvironment, target: Target) -> tuple[pytest.MarkDecorator, ...]:
    """A declared check's own markers (its function carries none: checkapi.declared_checks): its diagnosis,
    the diagnosis's category and default severity, and `mutating` for a POST."""
    if not isinstance(target, DeclaredCheck):
        return ()
    entry = env.catalogue.diagnoses.get(target.diagnosis)
    if entry is None:
        return ()
    marks = [pytest.mark.diagnosis(target.diagnosis, id=target.diagnosis), getattr(pytest.mark, entry.category),
             getattr(pytest.mark, entry.severity)]
    if target.mutating:
        marks.append(pytest.mark.mutating)
    return tuple(marks)
