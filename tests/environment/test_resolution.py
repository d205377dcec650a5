"""One resolver for everything an environment names (issue 24, item 1).

A made-up name, `app.realstack.test`, that only a loopback DNS server knows (healthsuite.testing.dns),
served over HTTPS with a certificate for that name from a private CA (healthsuite.testing.certs): with
`dns.nameservers` declared, every check that connects to the name resolves it there, once per run,
and agrees with NET1; `dns.hosts` pins a name to an address as curl's --resolve does, while TLS
still verifies the name; `init` takes the same options and writes them into its file.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.init.command import main as init_main
from healthsuite.testing.certs import TestCA
from healthsuite.testing.dns import DnsServer
from healthsuite.testing.tls_server import PlainHttpServer, redirect_response
from tests.conftest import CHECKS, CheckRun, _parse_junit

NAME = "app.realstack.test"
ORIGIN = f"https://{NAME}"


@dataclass
class Site:
    """An HTTPS server for NAME on 127.0.0.1: what it was asked (Host headers, SNI), and how often."""

    port: int
    ca: Path
    hosts: list[str] = field(default_factory=list)  # the Host header of each request
    server_names: list[str | None] = field(default_factory=list)  # the SNI of each handshake
    requests: int = 0
    paths: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://{NAME}:{self.port}"


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
            site.requests += 1
            site.hosts.append(self.headers.get("Host", ""))
            site.paths.append(f"{self.command} {self.path} {self.headers.get('Host')}")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/health":
                self._send(200, json.dumps({"status": "ok"}).encode(), "application/json")
            else:
                self._send(200, b"<html><body><a href='/about'>about</a></body></html>", "text/html")

        def do_OPTIONS(self) -> None:  # noqa: N802 - a CORS preflight: the site's own origin only
            extra = {}
            if self.headers.get("Origin") == ORIGIN:
                extra = {"Access-Control-Allow-Origin": ORIGIN, "Access-Control-Allow-Methods": "GET, POST",
                         "Access-Control-Allow-Headers": "content-type", "Vary": "Origin"}
            self._send(204, b"", "text/plain", extra)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def authority() -> TestCA:
    return TestCA.create("realstack private CA")


def _serve(tmp: Path, authority: TestCA, *names: str) -> Iterator[Site]:
    chain, key = authority.issue(*names).write(tmp, "server")
    ca = authority.write(tmp / "ca.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    site = Site(server.server_address[1], ca)
    server.RequestHandlerClass = _handler(site)

    def record(sock: Any, server_name: str | None, _: Any) -> None:
        site.server_names.append(server_name)

    context.sni_callback = record
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site(tmp_path: Path, authority: TestCA) -> Iterator[Site]:
    """HTTPS for NAME, its certificate from the private CA."""
    yield from _serve(tmp_path / "site", authority, NAME)


@pytest.fixture
def wrong_site(tmp_path: Path, authority: TestCA) -> Iterator[Site]:
    """HTTPS on loopback whose certificate (same CA) is for another name."""
    yield from _serve(tmp_path / "wrong", authority, "other.realstack.test")


@pytest.fixture
def zone() -> Iterator[DnsServer]:
    with DnsServer({NAME: [("A", "127.0.0.1")]}) as server:
        yield server


@pytest.fixture
def plain(site: Site) -> Iterator[PlainHttpServer]:
    """Plain HTTP that redirects to the HTTPS site (NET6)."""
    with PlainHttpServer(redirect_response(site.url + "/")) as server:
        yield server


RunChecks = Callable[..., CheckRun]


@pytest.fixture
def run_checks(pytester: pytest.Pytester, tmp_path: Path) -> RunChecks:
    """The real checks/ against an environment file (no demo stack: only this file's servers)."""
    counter = iter(range(100))

    def run(env: Path, *args: str) -> CheckRun:
        number = next(counter)
        reports = tmp_path / f"reports-{number}"
        junit = tmp_path / f"junit-{number}.xml"
        result = pytester.runpytest(str(CHECKS), "--env", str(env), "--reports-dir", str(reports),
                                    f"--junitxml={junit}", "-p", "no:cacheprovider", *args)
        latest = reports / "latest.json"
        report = json.loads(latest.read_text()) if latest.exists() else {"checks": []}
        return CheckRun(result, report, reports, _parse_junit(junit) if junit.exists() else [])

    return run


def _env(tmp_path: Path, site: Site, dns: str, *, plain_port: int | None = None, name: str = "realstack") -> Path:
    http_url = f"http_url: \"http://{NAME}:{plain_port}/\"" if plain_port else "http_redirect: false"
    text = f"""\
name: {name}
kind: test
base_urls: {{app: "{site.url}"}}
http: {{ca_bundle: "{site.ca}"}}
{dns}
pages:
  - {{name: home, path: /, content_type: text/html}}
health:
  - {{name: api, path: /health, body: [{{path: status, equals: ok}}]}}
endpoints:
  - {{name: about, path: /about}}
tls:
  - {{name: app, base: app, {http_url}}}
cors:
  - {{name: api, path: /api, origins: ["{ORIGIN}"], request_method: POST, request_headers: [content-type]}}
latency:
  - {{name: home, path: /, samples: 4, concurrency: 2}}
ports:
  - {{name: app, address: "{NAME}:{site.port}"}}
hostnames:
  - {{name: app, host: {NAME}, records: [A]}}
declared_checks:
  - {{name: app-tls, diagnosis: NET5, tls: {{base: app}}, expect: verified}}
  - {{name: app-port, diagnosis: AV4, tcp: {{address: "{NAME}:{site.port}"}}, expect: connected}}
  - {{name: app-home, diagnosis: AV1, http: {{path: /}}, expect: status == 200}}
"""
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


CONNECTING = ("AV1", "AV2", "AV3", "AV4", "NET5", "NET6", "NET7", "PERF1", "PERF2")
DIAGNOSES = ",".join((*CONNECTING, "NET1"))


def _outcomes(run: CheckRun) -> dict[str, str]:
    return {r["id"]: r["outcome"] for r in run.report["checks"]}


def test_every_check_resolves_through_the_declared_resolver_once_and_agrees_with_net1(
    tmp_path: Path, site: Site, zone: DnsServer, plain: PlainHttpServer, run_checks: RunChecks
) -> None:
    env = _env(tmp_path, site, f'dns: {{nameservers: ["{zone.address}"]}}', plain_port=plain.port)
    run = run_checks(env, "--diagnosis", DIAGNOSES)
    outcomes = _outcomes(run)
    assert run.result.ret == 0, (outcomes, run.output[-3000:])
    for diagnosis in CONNECTING:
        assert run.records(diagnosis), diagnosis
        assert all(r["outcome"] == "passed" for r in run.records(diagnosis)), (diagnosis, run.records(diagnosis))
    net1 = run.assert_outcome("NET1", "app", "passed", category="network", severity="critical")
    assert net1["observed"].startswith(f"{NAME}: A 127.0.0.1 in ") and f"[resolver {zone.address}]" in net1["observed"]
    # the requests went to the resolver's address with the name kept for Host and SNI: /, /health, /about,
    # two preflights, and PERF2's three further samples (its first is the GET of /)
    assert site.requests >= 8 and set(site.hosts) == {f"{NAME}:{site.port}"}, site.paths
    assert set(site.server_names) == {NAME}, site.server_names
    # one lookup of the name for the whole run, shared by NET1 and every connection (A and AAAA once each)
    asked = {key: count for key, count in zone.queries.items() if key.startswith(NAME)}
    assert asked == {f"{NAME} A": 1, f"{NAME} AAAA": 1}, asked


def test_a_name_the_resolver_does_not_know_fails_net1_and_av1_naming_the_same_resolver(
    tmp_path: Path, site: Site, zone: DnsServer, run_checks: RunChecks
) -> None:
    zone.remove(NAME)
    env = _env(tmp_path, site, f'dns: {{nameservers: ["{zone.address}"]}}')
    run = run_checks(env, "--diagnosis", "NET1,AV1,NET5,AV4")
    assert run.result.ret == 1, run.output[-3000:]
    net1 = run.assert_outcome("NET1", "app", "failed", category="network", severity="critical")
    assert f"{NAME}: NXDOMAIN (A) [resolver {zone.address}]" == net1["observed"], net1["observed"]
    av1 = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert av1["facts"]["failure_kind"] == "dns", av1["facts"]
    assert f"{NAME}: NXDOMAIN (A, AAAA) [resolver {zone.address}]" in av1["observed"], av1["observed"]
    for record in (*run.records("NET5"), *run.records("AV4")):  # the shipped checks and the declared ones
        assert record["outcome"] == "failed", record
        said = record["observed"] + record["message"]
        assert f"{NAME}: NXDOMAIN (A, AAAA) [resolver {zone.address}]" in said, said
        assert "system resolver" not in said and "Name or service not known" not in said, said
    assert site.requests == 0  # nothing reached the site: no address, no connection
    asked = {key: count for key, count in zone.queries.items() if key.startswith(NAME)}
    assert asked == {f"{NAME} A": 1, f"{NAME} AAAA": 1}, asked


def test_a_pin_sends_every_connection_to_its_address_and_tls_still_verifies_the_name(
    tmp_path: Path, site: Site, zone: DnsServer, run_checks: RunChecks
) -> None:
    # the resolver says 127.0.0.2, where nothing listens: the pin wins for every connection
    zone.set_records(NAME, [("A", "127.0.0.2")])
    dns = f'dns: {{nameservers: ["{zone.address}"], hosts: {{{NAME.upper()}.: 127.0.0.1}}}}'
    run = run_checks(_env(tmp_path, site, dns), "--diagnosis", "AV1,AV2,AV3,AV4,NET5,NET7,PERF1")
    assert run.result.ret == 0, (_outcomes(run), run.output[-3000:])
    assert set(site.hosts) == {f"{NAME}:{site.port}"} and set(site.server_names) == {NAME}
    assert not [key for key in zone.queries if key.startswith(NAME)], zone.queries  # the pin asks no resolver


def test_a_pinned_name_whose_certificate_is_for_another_name_still_fails_net5_and_av1(
    tmp_path: Path, wrong_site: Site, run_checks: RunChecks
) -> None:
    run = run_checks(_env(tmp_path, wrong_site, f"dns: {{hosts: {{{NAME}: 127.0.0.1}}}}"), "--diagnosis", "AV1,NET5")
    assert run.result.ret == 1, run.output[-3000:]
    net5 = run.assert_outcome("NET5", "app", "failed", category="network", severity="critical")
    assert NAME in net5["observed"] and "other.realstack.test" in net5["observed"], net5["observed"]
    av1 = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert av1["facts"]["failure_kind"] == "tls", av1
    assert set(wrong_site.server_names) == {NAME}  # it was asked for the name, and presented another


def test_a_pin_that_is_not_an_ip_address_is_a_usage_error_naming_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "pins.yaml"
    path.write_text(f"name: t\nkind: test\ndns:\n  hosts:\n    {NAME}: db.internal\n")
    with pytest.raises(EnvironmentFileError) as info:
        load_environment(path, {})
    text = str(info.value)
    assert "pins.yaml" in text and "line 5" in text and f"dns.hosts.{NAME}" in text, text
    assert "'db.internal' is not an IP address" in text and "fix: write the address" in text, text
    path.write_text("name: t\nkind: test\ndns:\n  hosts:\n    'bad name!': 127.0.0.1\n")
    with pytest.raises(EnvironmentFileError) as info:
        load_environment(path, {})
    assert "is not a host name" in str(info.value) and "line 5" in str(info.value), str(info.value)


def test_init_with_the_resolver_writes_it_and_the_file_passes(
    tmp_path: Path, site: Site, zone: DnsServer, run_checks: RunChecks, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "init.yaml"
    code = init_main(["--nameserver", zone.address, "--base-url", site.url, "--ca-bundle", str(site.ca),
                      "--output", str(output), "--kind", "test"], environ={})
    captured = capsys.readouterr()
    assert code == 0, captured.err
    text = output.read_text()
    assert f'nameservers: ["{zone.address}"]' in text, text
    assert load_environment(output, {}).model.dns.nameservers[0].raw == zone.address
    run = run_checks(output, "--diagnosis", "AV1,AV2,AV3,NET5,PERF1")
    assert run.result.ret == 0, (_outcomes(run), run.output[-3000:])
    assert run.records("AV1") and set(site.server_names) == {NAME}


def test_init_with_a_pin_writes_it(
    tmp_path: Path, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "pinned.yaml"
    code = init_main(["--resolve", f"{NAME}:127.0.0.1", "--base-url", site.url, "--ca-bundle", str(site.ca),
                      "--output", str(output), "--kind", "test"], environ={})
    assert code == 0, capsys.readouterr().err
    assert load_environment(output, {}).model.dns.hosts == {NAME: "127.0.0.1"}


def test_init_against_the_address_says_to_use_the_name_and_a_pin_not_the_ca_bundle(
    tmp_path: Path, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    code = init_main(["--base-url", f"https://127.0.0.1:{site.port}", "--ca-bundle", str(site.ca),
                      "--output", str(tmp_path / "x.yaml")], environ={})
    err = capsys.readouterr().err
    assert code == 4, err
    assert "IP address mismatch" in err, err
    fix = err.split("(fix: ", 1)[1]
    assert f"the certificate is for {NAME}" in fix and f"--base-url https://{NAME}:{site.port}" in fix, fix
    assert f"--resolve {NAME}:127.0.0.1" in fix and "--ca-bundle" not in fix, fix


def test_init_against_a_name_no_resolver_knows_names_the_options(
    tmp_path: Path, site: Site, zone: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    zone.remove(NAME)
    code = init_main(["--nameserver", zone.address, "--base-url", site.url, "--ca-bundle", str(site.ca),
                      "--output", str(tmp_path / "x.yaml"), "--timeout", "2"], environ={})
    err = capsys.readouterr().err
    assert code == 4, err
    assert f"NXDOMAIN (A, AAAA) [resolver {zone.address}]" in err, err
    assert f"--resolve {NAME}:ADDRESS" in err, err
    code = init_main(["--resolve", f"{NAME}:443:127.0.0.1", "--base-url", site.url], environ={})
    err = capsys.readouterr().err
    assert code == 4 and "--resolve app.realstack.test:443:127.0.0.1: not NAME:ADDRESS" in err, err
