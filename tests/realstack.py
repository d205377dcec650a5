"""A small real platform built from off-the-shelf parts, the way an operator builds one: nobody here wrote
the software the checks judge.

- a private CA and a server certificate for `app.realstack.test`, made with the plain `openssl` command
  line (no `-addext`: the CA has no keyUsage extension, as `openssl req -x509` makes it);
- PostgreSQL 15 (a throwaway cluster, pg_stat_statements loaded, its log in the default format) with the
  application's database and owner role, and a monitoring role granted pg_monitor and SELECT;
- Redis (a throwaway server);
- a Django project made by `django-admin startproject`, on that database and cache, with
  django-health-check's view at /ht/, migrated, served by gunicorn on a loopback port;
- nginx terminating TLS for app.realstack.test in front of gunicorn, its access log with `$request_time`
  last, plain HTTP redirecting to HTTPS;
- unbound serving the zone `realstack.test` on a loopback port.

`RealStack.environment()` writes the environment file a user would write for it; the faults are done
with the real software (stop gunicorn, stop PostgreSQL, a certificate for another name, ...)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

from healthsuite.testing.ports import free_port
from healthsuite.testing.postgres_server import PostgresServer
from healthsuite.testing.redis_server import RedisServer

NAME = "app.realstack.test"
DB_PASSWORD = "realapp-db-secret"  # the application's own role
MONITOR_PASSWORD = "monitor-secret-7"  # the role healthsuite connects as
NGINX = "/usr/sbin/nginx"
UNBOUND = "/usr/sbin/unbound"
PARTS = (NGINX, UNBOUND, "/usr/bin/openssl")


def missing_parts() -> list[str]:
    """What of the platform this machine lacks (scripts/install.sh installs it)."""
    missing = [part for part in PARTS if not Path(part).exists()]
    try:
        import django  # noqa: F401, PLC0415
        import gunicorn  # noqa: F401, PLC0415
        import health_check  # noqa: F401, PLC0415
    except ImportError as exc:
        missing.append(f"python package {exc.name}")
    return missing


def _run(*argv: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _wait(check: object, what: str, bound_s: float = 30.0) -> None:
    until = time.monotonic() + bound_s
    last: Exception | None = None
    while time.monotonic() < until:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{what} not up after {bound_s:g} s: {last}")


class RealStack:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {name: free_port() for name in ("https", "http", "gunicorn", "dns")}
        self.postgres: PostgresServer | None = None
        self.redis: RedisServer | None = None
        self.gunicorn: subprocess.Popen[bytes] | None = None
        self.nginx: subprocess.Popen[bytes] | None = None
        self.unbound: subprocess.Popen[bytes] | None = None

    # --- the parts ----------------------------------------------------------------------------------

    def make_certificates(self) -> None:
        """A private CA and a certificate for NAME, by `openssl` as an operator types it."""
        pki = self.root / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", "/CN=Realstack CA",
             "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.pem"))
        self.certificate_for(NAME, "app")

    def certificate_for(self, name: str, stem: str) -> tuple[Path, Path]:
        pki = self.root / "pki"
        key, csr, crt = pki / f"{stem}.key", pki / f"{stem}.csr", pki / f"{stem}.pem"
        _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", str(key),
             "-out", str(csr))
        (pki / f"{stem}.ext").write_text(f"subjectAltName=DNS:{name}\n")
        _run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.pem"), "-CAkey", str(pki / "ca.key"),
             "-CAcreateserial", "-days", "365", "-out", str(crt), "-extfile", str(pki / f"{stem}.ext"))
        return crt, key

    @property
    def ca_bundle(self) -> Path:
        return self.root / "pki" / "ca.pem"

    def start_postgres(self) -> None:
        self.postgres = PostgresServer(self.root, settings={
            "shared_preload_libraries": "pg_stat_statements", "log_min_messages": "warning",
        }).start()
        pg = self.postgres
        pg.psql(f"CREATE ROLE realapp LOGIN PASSWORD '{DB_PASSWORD}'")
        pg.psql("CREATE DATABASE realapp OWNER realapp")
        pg.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", dbname="realapp")
        pg.psql(f"CREATE ROLE monitor LOGIN PASSWORD '{MONITOR_PASSWORD}'; GRANT pg_monitor TO monitor")

    def grant_monitor(self) -> None:
        """What docs/safety.md's Least privilege says to grant, after the application created its tables."""
        assert self.postgres is not None
        self.postgres.psql("GRANT USAGE ON SCHEMA public TO monitor; GRANT SELECT ON ALL TABLES IN SCHEMA public "
                           "TO monitor", dbname="realapp")

    def start_redis(self) -> None:
        self.redis = RedisServer(self.root).start()

    def make_application(self) -> None:
        """`django-admin startproject`, configured for the database, the cache and the health view; migrated."""
        assert self.postgres is not None and self.redis is not None
        app = self.root / "app"
        app.mkdir(parents=True, exist_ok=True)
        _run(sys.executable, "-m", "django", "startproject", "realapp", str(app))
        settings = app / "realapp" / "settings.py"
        settings.write_text(settings.read_text() + textwrap.dedent(f"""
            # --- the operator's settings
            import os as _os
            DEBUG = False
            ALLOWED_HOSTS = ["{NAME}", "127.0.0.1", "localhost"]
            CSRF_TRUSTED_ORIGINS = ["https://{NAME}:{self.ports['https']}"]
            DATABASES = {{"default": {{
                "ENGINE": "django.db.backends.postgresql", "NAME": "realapp", "USER": "realapp",
                "PASSWORD": _os.environ["REALAPP_DB_PASSWORD"], "HOST": "127.0.0.1",
                "PORT": "{self.postgres.port}", "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True,
            }}}}
            CACHES = {{"default": {{"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:{self.redis.port}/0"}}}}
            SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        """))
        urls = app / "realapp" / "urls.py"
        urls.write_text(urls.read_text().replace(
            "from django.urls import path",
            "from django.urls import path\nfrom health_check.views import HealthCheckView",
        ).replace(
            "path('admin/', admin.site.urls),",
            "path('admin/', admin.site.urls),\n    path('ht/', HealthCheckView.as_view(checks=["
            "'health_check.checks.Database', 'health_check.checks.Cache'])),",
        ).replace(
            'path("admin/", admin.site.urls),',
            'path("admin/", admin.site.urls),\n    path("ht/", HealthCheckView.as_view(checks=['
            '"health_check.checks.Database", "health_check.checks.Cache"])),',
        ))
        _run(sys.executable, "manage.py", "migrate", "--noinput", cwd=app, env=self._app_env())
        self.grant_monitor()

    def _app_env(self) -> dict[str, str]:
        return {**os.environ, "REALAPP_DB_PASSWORD": DB_PASSWORD, "DJANGO_SETTINGS_MODULE": "realapp.settings"}

    def start_gunicorn(self) -> None:
        app = self.root / "app"
        log = (self.root / "gunicorn.log").open("ab")
        self.gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.ports['gunicorn']}", "--workers", "2",
             "--threads", "4", "--timeout", "30", "realapp.wsgi:application"],
            cwd=app, env=self._app_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait(lambda: urllib.request.urlopen(  # noqa: S310 - loopback
            f"http://127.0.0.1:{self.ports['gunicorn']}/ht/?format=json", timeout=2).status == 200, "gunicorn")

    def stop_gunicorn(self) -> None:
        if self.gunicorn is not None and self.gunicorn.poll() is None:
            os.killpg(self.gunicorn.pid, signal.SIGTERM)
            self.gunicorn.wait(timeout=30)
        self.gunicorn = None

    def start_nginx(self, certificate: str = "app") -> None:
        conf = self.root / "nginx"
        (conf / "logs").mkdir(parents=True, exist_ok=True)
        pki = self.root / "pki"
        (conf / "nginx.conf").write_text(textwrap.dedent(f"""
            user root;
            worker_processes 1;
            pid {conf}/nginx.pid;
            error_log {conf}/logs/error.log warn;
            events {{ worker_connections 256; }}
            http {{
                access_log off;
                log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                                 '"$http_referer" "$http_user_agent" $request_time';
                client_body_temp_path {conf}/body; proxy_temp_path {conf}/proxy;
                fastcgi_temp_path {conf}/fastcgi; uwsgi_temp_path {conf}/uwsgi; scgi_temp_path {conf}/scgi;
                server {{
                    listen 127.0.0.1:{self.ports['http']};
                    server_name {NAME};
                    return 301 https://{NAME}:{self.ports['https']}$request_uri;
                }}
                server {{
                    listen 127.0.0.1:{self.ports['https']} ssl;
                    server_name {NAME};
                    ssl_certificate {pki / (certificate + '.pem')};
                    ssl_certificate_key {pki / (certificate + '.key')};
                    ssl_protocols TLSv1.2 TLSv1.3;
                    access_log {conf}/logs/access.log timed;
                    location / {{
                        proxy_pass http://127.0.0.1:{self.ports['gunicorn']};
                        proxy_set_header Host $host;
                        proxy_set_header X-Forwarded-Proto https;
                        proxy_connect_timeout 2s;
                        proxy_read_timeout 10s;
                    }}
                }}
            }}
        """))
        self.nginx = subprocess.Popen([NGINX, "-p", str(conf), "-c", str(conf / "nginx.conf"), "-g", "daemon off;"],
                                      stdout=subprocess.DEVNULL, stderr=(conf / "stderr.log").open("ab"))
        _wait(lambda: _connects(self.ports["https"]), "nginx")

    def stop_nginx(self) -> None:
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(timeout=30)
        self.nginx = None

    @property
    def access_log(self) -> Path:
        return self.root / "nginx" / "logs" / "access.log"

    def start_unbound(self, records: dict[str, str] | None = None) -> None:
        records = {NAME: "127.0.0.1"} if records is None else records
        conf = self.root / "unbound"
        conf.mkdir(parents=True, exist_ok=True)
        data = "".join(f'    local-data: "{name}. 60 IN A {address}"\n' for name, address in records.items())
        (conf / "unbound.conf").write_text(
            "server:\n"
            f"    interface: 127.0.0.1@{self.ports['dns']}\n"
            "    do-daemonize: no\n    username: \"\"\n    chroot: \"\"\n"
            f"    directory: \"{conf}\"\n    pidfile: \"{conf}/unbound.pid\"\n"
            "    use-syslog: no\n    logfile: \"\"\n    verbosity: 0\n"
            "    do-ip6: no\n    access-control: 127.0.0.0/8 allow\n"
            "    local-zone: \"realstack.test.\" static\n" + data
        )
        self.unbound = subprocess.Popen([UNBOUND, "-d", "-c", str(conf / "unbound.conf")],
                                        stdout=subprocess.DEVNULL, stderr=(conf / "stderr.log").open("ab"))
        _wait(lambda: _answers_dns(self.ports["dns"]), "unbound")

    def stop_unbound(self) -> None:
        if self.unbound is not None and self.unbound.poll() is None:
            self.unbound.terminate()
            self.unbound.wait(timeout=30)
        self.unbound = None

    # --- the whole ---------------------------------------------------------------------------------------

    def start(self) -> RealStack:
        self.make_certificates()
        self.start_postgres()
        self.start_redis()
        self.make_application()
        self.start_gunicorn()
        self.start_nginx()
        self.start_unbound()
        return self

    def stop(self) -> None:
        for stop in (self.stop_nginx, self.stop_gunicorn, self.stop_unbound):
            try:
                stop()
            except Exception:  # noqa: BLE001, S112 - stop what can be stopped
                continue
        for server in (self.redis, self.postgres):
            if server is not None:
                server.remove()

    def environment(self, path: Path, *, extra: str = "") -> Path:
        """The environment file a user writes for this platform (the docs' keys, secrets as variables)."""
        assert self.postgres is not None and self.redis is not None
        https = f"https://{NAME}:{self.ports['https']}"
        path.write_text(textwrap.dedent(f"""\
            name: realstack
            kind: staging
            base_urls: {{app: "{https}"}}
            http: {{ca_bundle: "{self.ca_bundle}"}}
            dns: {{nameservers: ["127.0.0.1:{self.ports['dns']}"]}}
            timeouts: {{http_s: 5, connect_s: 2, dns_s: 2, database_s: 5, cache_s: 3}}
            pages:
              - {{name: sign-in, base: app, path: /admin/login/, content_type: text/html}}
            health:
              - {{name: app-health, base: app, path: "/ht/?format=json", content_type: application/json}}
            proxies:
              - {{name: app, base: app, path: /admin/login/, upstream: "127.0.0.1:{self.ports['gunicorn']}"}}
            hostnames:
              - {{name: app, host: {NAME}, records: [A]}}
            tls:
              - {{name: app, base: app, http_url: "http://{NAME}:{self.ports['http']}/"}}
            ports:
              - {{name: gunicorn, address: "127.0.0.1:{self.ports['gunicorn']}"}}
              - {{name: postgres, address: "127.0.0.1:{self.postgres.port}"}}
            databases:
              - name: realapp
                engine: postgresql
                dsn: "postgresql://monitor:${{REALSTACK_PG_PASSWORD}}@127.0.0.1:{self.postgres.port}/realapp"
                schema:
                  tables: [auth_user, auth_group, django_session, django_migrations]
            caches:
              - {{name: cache, url: "redis://127.0.0.1:{self.redis.port}/0"}}
            logs:
              - {{name: nginx, path: "{self.access_log}", format: nginx}}
              - {{name: postgres, path: "{self.postgres.logfile}", format: postgres}}
        """) + extra)
        return path

    def variables(self) -> dict[str, str]:
        return {"REALSTACK_PG_PASSWORD": MONITOR_PASSWORD}


def _connects(port: int) -> bool:
    import socket  # noqa: PLC0415

    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def _answers_dns(port: int) -> bool:
    import dns.message  # noqa: PLC0415
    import dns.query  # noqa: PLC0415

    dns.query.udp(dns.message.make_query(NAME, "A"), "127.0.0.1", port=port, timeout=1)
    return True  # it answers (the name itself may be gone from the zone)


def have_everything() -> bool:
    return not missing_parts() and shutil.which("openssl") is not None
