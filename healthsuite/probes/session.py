"""The probes of one run: each (observation, target) is probed once and shared by every check."""

from __future__ import annotations

from typing import Any

import httpx

from ..envfile import LoadedEnvironment
from ..environment import HttpTarget, PostgresDatabase, RedisCache, SqliteDatabase, Target
from . import http, postgres, redis, sqlite
from .cache import ProbeCache

DatabaseObservation = postgres.PostgresObservation | sqlite.SqliteObservation


class ProbeSession:
    """Opens nothing until a check asks; `close()` releases the HTTP connection pool."""

    def __init__(self, env: LoadedEnvironment) -> None:
        self.env = env
        self.cache = ProbeCache()
        self._client: httpx.Client | None = None

    def _http_client(self) -> httpx.Client:
        if self._client is None:
            settings = self.env.model.http
            ca_bundle = (
                str(self.env.resolve_path(settings.ca_bundle, f"http.ca_bundle in {self.env.path.name}"))
                if settings.ca_bundle is not None
                else None
            )
            self._client = http.make_client(http.tls_context(settings.verify_tls, ca_bundle))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- requests, resolved from the environment file --------------------------------------------

    def http_request(self, target: HttpTarget) -> http.HttpRequest:
        env = self.env
        headers = {**env.model.http.headers, **target.headers}
        return http.HttpRequest(
            method=target.method,
            url=env.url_of(target),
            headers=tuple(
                sorted((k, env.resolve(v, env.where(target, f"headers.{k}"))) for k, v in headers.items())
            ),
            follow_redirects=target.follow_redirects,
            timeout_s=target.timeout_s or env.model.timeouts.http_s,
        )

    # --- observations ----------------------------------------------------------------------------

    def http(self, target: HttpTarget) -> http.HttpObservation:
        request = self.http_request(target)
        return self.cache.get(
            ("http", request),
            lambda: http.fetch(self._http_client(), request, self.env.model.http.max_body_bytes),
        )

    def database(self, target: Target) -> DatabaseObservation:
        env = self.env
        if isinstance(target, PostgresDatabase):
            dsn = env.resolve(target.dsn, env.where(target, "dsn"))
            timeout = target.timeout_s or env.model.timeouts.database_s
            return self.cache.get(("postgres.select1", dsn, timeout), lambda: postgres.select_one(dsn, timeout))
        if isinstance(target, SqliteDatabase):
            path = env.resolve_path(target.path, env.where(target, "path"))
            timeout = target.timeout_s or env.model.timeouts.database_s
            return self.cache.get(("sqlite.select1", path, timeout), lambda: sqlite.select_one(path, timeout))
        raise TypeError(f"not a database: {target!r}")

    def redis_ping(self, target: RedisCache) -> redis.RedisObservation:
        env = self.env
        url = env.resolve(target.url, env.where(target, "url"))
        username = env.resolve(target.username, env.where(target, "username")) if target.username else None
        password = env.resolve(target.password, env.where(target, "password")) if target.password else None
        timeout = target.timeout_s or env.model.timeouts.cache_s
        return self.cache.get(
            ("redis.ping", url, username, password, timeout),
            lambda: redis.ping(url, username, password, timeout),
        )

    def observe(self, target: Target) -> Any:
        """The basic observation of any target: a response, `SELECT 1`, or PING."""
        if isinstance(target, HttpTarget):
            return self.http(target)
        if isinstance(target, RedisCache):
            return self.redis_ping(target)
        return self.database(target)
