"""Mirrors checks/test_network.py. NET1-NET4 against a real DNS server on loopback
(healthsuite.testing.dns): the probe's outcomes, then the checks end to end. NET5 (certificate) and NET6
(protocol, redirect) with real handshakes on loopback: the probe reports the presented chain even when
it does not verify, names each verification problem and the certificate it concerns, and never hangs;
the checks fail with the severity of the expiry window they fall in. NET7 (CORS) and NET8 (the proxy)
against the demo."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import pytest
import trustme
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from healthsuite.assessments.tls import certificate
from healthsuite.demo.faults.switches import Fault
from healthsuite.demo.stack import DemoStack
from healthsuite.probes.chain import covers
from healthsuite.probes.resolver import DnsObservation, resolve
from healthsuite.probes.tls import TlsObservation, handshake
from healthsuite.testing.certs import IssuedCert, TestCA, self_signed
from healthsuite.testing.dns import ANY_NAME, DEMO_FAULTS, DEMO_ZONE, DnsServer, break_demo
from healthsuite.testing.listeners import GarbageListener, SilentListener
from healthsuite.testing.ports import free_port
from healthsuite.testing.tls_server import PlainHttpServer, TlsServer, redirect_response
from tests.checks.support import DAY, LOOPBACK, NAME, EnvFile, edge_env, now
from tests.conftest import RunChecks

ZONE = {
    "demo.test": [("A", "127.0.0.1"), ("AAAA", "::1")],
    "www.demo.test": [("CNAME", "demo.test")],
    "alias.demo.test": [("CNAME", "www.demo.test")],
    "edge.demo.test": [("A", "104.16.1.1"), ("AAAA", "2606:4700::1")],  # inside the shipped cloudflare ranges
    "v4.demo.test": [("A", "127.0.0.2")],
    "txt.demo.test": [("TXT", "v=spf1 -all")],
    "dangling.demo.test": [("CNAME", "gone.demo.test")],
    "gone.demo.test": [("A", "127.0.0.9")],  # deleted in the tests that need it
    "slow.demo.test": [("A", "127.0.0.3")],
    "hung.demo.test": [("A", "127.0.0.4")],
}


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer(ZONE).start()
    yield server
    server.stop()


@pytest.fixture
def dns_zone(dns_server: DnsServer) -> Iterator[DnsServer]:
    """The module's server, back to ZONE and no faults around each test."""
    dns_server.reset()
    yield dns_server
    dns_server.reset()


def ask(server: DnsServer, host: str, *types: str, timeout: float = 2.0) -> DnsObservation:
    return resolve(host, types or ("A", "AAAA"), [("127.0.0.1", server.port)], timeout)


def dns_env(nameserver: str, hostnames: str, *, extra: str = "", timeout: float = 1.0) -> str:
    return f"""
name: dnstest
kind: test
dns:
  nameservers: ["{nameserver}"]
{extra}timeouts:
  dns_s: {timeout}
hostnames:
{hostnames}"""




# --- NET1-NET4: the resolver probe --------------------------------------------------------------------------


def test_resolve_answers_a_and_aaaa_through_the_given_resolver(dns_zone: DnsServer) -> None:
    obs = ask(dns_zone, "Demo.Test.")
    assert obs.host == "demo.test" and obs.resolver == dns_zone.address
    a, aaaa = obs.answers["A"], obs.answers["AAAA"]
    assert (a.outcome, a.values, a.rcode, a.ttl) == ("answer", ("127.0.0.1",), "NOERROR", 60)
    assert (aaaa.outcome, aaaa.values) == ("answer", ("::1",))
    assert obs.addresses() == ("127.0.0.1", "::1") and obs.elapsed_s > 0
    assert dns_zone.queries["demo.test A"] >= 1 and dns_zone.queries["demo.test AAAA"] >= 1


def test_resolve_follows_the_cname_chain(dns_zone: DnsServer) -> None:
    obs = ask(dns_zone, "alias.demo.test", "A", "AAAA", "CNAME")
    assert obs.answers["A"].values == ("127.0.0.1",)
    assert obs.answers["A"].cname_chain == ("www.demo.test", "demo.test")
    assert obs.answers["AAAA"].cname_chain == ("www.demo.test", "demo.test")
    assert (obs.answers["CNAME"].outcome, obs.answers["CNAME"].values) == ("answer", ("www.demo.test",))
    # a name without a CNAME: the CNAME query has no answer
    assert ask(dns_zone, "demo.test", "CNAME").answers["CNAME"].outcome == "no_answer"


def test_resolve_nxdomain_names_a_dangling_cname(dns_zone: DnsServer) -> None:
    missing = ask(dns_zone, "missing.demo.test").answers["A"]
    assert (missing.outcome, missing.rcode, missing.detail) == ("nxdomain", "NXDOMAIN", "missing.demo.test does not exist")
    dns_zone.remove("gone.demo.test")
    dangling = ask(dns_zone, "dangling.demo.test").answers["A"]
    assert dangling.outcome == "nxdomain"
    assert dangling.detail == "dangling.demo.test is a CNAME to gone.demo.test, which does not exist"


@pytest.mark.parametrize(("fault", "rcode"), [("servfail", "SERVFAIL"), ("refused", "REFUSED")])
def test_resolve_servfail_and_refused_keep_the_rcode(dns_zone: DnsServer, fault: str, rcode: str) -> None:
    dns_zone.set_fault("demo.test", fault)
    answer = ask(dns_zone, "demo.test", "A").answers["A"]
    assert (answer.outcome, answer.rcode, answer.outcome_name) == ("servfail", rcode, rcode)
    assert answer.detail == f"{dns_zone.address} answered {rcode}"
    # behind a CNAME, the target's failure is the name's failure
    assert ask(dns_zone, "www.demo.test", "A").answers["A"].rcode == rcode


def test_resolve_no_answer_when_the_name_lacks_the_type(dns_zone: DnsServer) -> None:
    obs = ask(dns_zone, "v4.demo.test")
    assert obs.answers["A"].outcome == "answer" and obs.answers["AAAA"].outcome == "no_answer"
    assert obs.answers["AAAA"].rcode == "NOERROR"
    txt = ask(dns_zone, "txt.demo.test")
    assert {a.outcome for a in txt.answers.values()} == {"no_answer"} and txt.addresses() == ()
    dns_zone.set_fault("demo.test", "no_answer")
    assert ask(dns_zone, "demo.test", "A").answers["A"].outcome == "no_answer"


def test_resolve_times_out_when_the_server_drops_the_query(dns_zone: DnsServer) -> None:
    dns_zone.set_fault("hung.demo.test", "drop")
    obs = ask(dns_zone, "hung.demo.test", timeout=0.3)
    for answer in obs.answers.values():
        assert (answer.outcome, answer.detail) == ("timeout", "no answer within 0.3 s")
        assert answer.elapsed_s > 0.25  # it waited for its timeout
    # A and AAAA in parallel: the lookup took one timeout, not the two in turn
    assert obs.elapsed_s < sum(a.elapsed_s for a in obs.answers.values())


def test_resolve_times_out_on_a_silent_udp_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never read: queries vanish
        port = silent.getsockname()[1]
        obs = resolve("demo.test", ["A"], [("127.0.0.1", port)], 0.3)
    assert obs.answers["A"].outcome == "timeout" and obs.resolver == f"127.0.0.1:{port}"


def test_resolve_queries_the_types_in_parallel(dns_zone: DnsServer) -> None:
    dns_zone.set_fault("slow.demo.test", "slow", delay_s=0.3)
    obs = ask(dns_zone, "slow.demo.test")
    assert obs.answers["A"].values == ("127.0.0.3",)
    assert all(a.elapsed_s >= 0.3 for a in obs.answers.values())
    assert obs.elapsed_s < sum(a.elapsed_s for a in obs.answers.values())  # the slowest query, not the sum


def test_resolve_never_raises_on_a_nameserver_that_is_not_an_ip() -> None:
    obs = resolve("demo.test", ["A", "AAAA"], [("dns.internal", 53)], 0.5)
    assert obs.resolver == "dns.internal:53"
    for answer in obs.answers.values():
        assert answer.outcome == "error" and "'dns.internal' is not an IP address" in answer.detail


# --- the demo DNS server itself -----------------------------------------------------------------------------


def test_dns_server_answers_over_udp_and_tcp_and_switches_records(dns_zone: DnsServer) -> None:
    query = dns.message.make_query("www.demo.test", "A")
    for send in (dns.query.udp, dns.query.tcp):
        response = send(query, "127.0.0.1", timeout=2, port=dns_zone.port)
        # the CNAME and its target's address, as a recursive resolver answers
        assert [rrset.to_text() for rrset in response.answer] == [
            "www.demo.test. 60 IN CNAME demo.test.",
            "demo.test. 60 IN A 127.0.0.1",
        ]
    dns_zone.set_records("www.demo.test", [("A", "203.0.113.7")])
    assert ask(dns_zone, "www.demo.test", "A", "CNAME").answers["CNAME"].outcome == "no_answer"
    with pytest.raises(ValueError, match="cannot sit beside"):
        dns_zone.set_records("www.demo.test", [("CNAME", "demo.test"), ("A", "127.0.0.1")])
    with pytest.raises(ValueError):
        dns_zone.set_fault("www.demo.test", "meltdown")
    dns_zone.set_fault(ANY_NAME, "servfail")
    assert dns_zone.faults() == {ANY_NAME: {"kind": "servfail", "delay_s": 0.0}}
    assert ask(dns_zone, "v4.demo.test", "A").answers["A"].outcome == "servfail"
    dns_zone.reset()
    assert ask(dns_zone, "www.demo.test", "A").answers["A"].cname_chain == ("demo.test",)


def test_dns_server_stops_promptly_and_frees_its_port() -> None:
    server = DnsServer({"a.test": [("A", "127.0.0.1")]}).start()
    server.set_fault("a.test", "slow", delay_s=10)
    port = server.port
    started = time.monotonic()
    query = dns.message.make_query("a.test", "A")
    with pytest.raises(dns.exception.Timeout):
        dns.query.udp(query, "127.0.0.1", timeout=0.2, port=port)
    server.stop()
    assert time.monotonic() - started < 3
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind(("127.0.0.1", port))  # nothing listens any more


# --- NET1-NET4: the checks, end to end ----------------------------------------------------------------------


HEALTHY = """  - name: apex
    host: demo.test
    expect_in: [127.0.0.0/8, "::1"]
  - name: www
    host: www.demo.test
    cname: demo.test
    expect_in: [127.0.0.0/8, "::1/128"]
  - name: edge
    host: edge.demo.test
    expect_in: [cloudflare]
"""


def test_NET1_NET2_NET3_NET4_pass_when_dns_is_healthy(
    run_checks: RunChecks, env_file: EnvFile, dns_zone: DnsServer
) -> None:
    run = run_checks("--diagnosis", "NET1,NET2,NET3,NET4", env=env_file(dns_env(dns_zone.address, HEALTHY)))
    run.result.assert_outcomes(passed=10)
    www = run.assert_outcome("NET1", "www", "passed", category="network", severity="critical")
    assert www["observed"].startswith("www.demo.test: A 127.0.0.1 (via demo.test); AAAA ::1 (via demo.test) in ")
    assert www["observed"].endswith(f"[resolver {dns_zone.address}]")
    assert www["facts"]["resolver"] == dns_zone.address
    assert www["facts"]["answers"]["A"] == {
        "outcome": "answer", "rcode": "NOERROR", "values": ["127.0.0.1"], "cname_chain": ["demo.test"],
        "elapsed_ms": www["facts"]["answers"]["A"]["elapsed_ms"],
    }
    edge = run.assert_outcome("NET2", "edge", "passed", category="network", severity="high")
    assert "all in cloudflare" in edge["observed"]
    shape = run.assert_outcome("NET3", "www", "passed", category="network", severity="medium")
    assert shape["observed"] == f"www.demo.test CNAME demo.test [resolver {dns_zone.address}]"
    speed = run.assert_outcome("NET4", "apex", "passed", category="network", severity="medium")
    assert speed["observed"].startswith("demo.test: slowest ") and speed["facts"]["max_ms"] == 1000
    assert speed["expected"] == "every query for demo.test answered in under 1000 ms"


def test_NET1_NET4_fails_naming_nxdomain_servfail_no_answer_and_timeout(
    run_checks: RunChecks, env_file: EnvFile, dns_zone: DnsServer
) -> None:
    dns_zone.set_fault("demo.test", "nxdomain")
    dns_zone.set_fault("edge.demo.test", "servfail")
    dns_zone.set_fault("v4.demo.test", "no_answer")
    dns_zone.set_fault("hung.demo.test", "drop")
    hostnames = "".join(
        f"  - name: {name}\n    host: {host}\n"
        for name, host in [("gone", "demo.test"), ("broken", "edge.demo.test"), ("empty", "v4.demo.test"),
                           ("hung", "hung.demo.test"), ("dangling", "dangling.demo.test")]
    )
    dns_zone.remove("gone.demo.test")
    run = run_checks("--diagnosis", "NET1,NET4", env=env_file(dns_env(dns_zone.address, hostnames, timeout=0.4)))
    expected = {
        "gone": ("NXDOMAIN (A, AAAA)", "the name does not exist in DNS"),
        "broken": ("SERVFAIL (A, AAAA)", "the resolver could not get an answer"),
        "empty": ("no answer (A, AAAA)", "the name exists but has no record of the asked type"),
        "hung": ("timeout (A, AAAA): no answer within 0.4 s", "the resolver did not answer in time"),
        "dangling": ("NXDOMAIN (A, AAAA): dangling.demo.test is a CNAME to gone.demo.test", "dangling CNAME"),
    }
    for name, (observed, meaning) in expected.items():
        record = run.assert_outcome("NET1", name, "failed", category="network", severity="critical")
        assert observed in record["observed"] and dns_zone.address in record["observed"], record["observed"]
        assert meaning in record["message"], record["message"]
        assert "dig @127.0.0.1 -p" in record["message"]
    # the advice asks the declared resolver, as the check did; an internal name gets no public resolver,
    # and no provider's dashboard where the environment declares none
    resolver_host, resolver_port = dns_zone.address.rsplit(":", 1)
    gone = run.record("NET1", "gone")["message"]
    assert f"`dig @{resolver_host} -p {resolver_port} demo.test" in gone, gone
    assert "1.1.1.1" not in gone and "Cloudflare" not in gone
    assert run.record("NET1", "hung")["duration_s"] < 2
    # NET4: a timeout fails (no time to judge); an NXDOMAIN answered quickly is NET1's business
    hung = run.assert_outcome("NET4", "hung", "failed", category="network", severity="medium")
    assert "timeout" in hung["observed"] and "resolution time cannot be measured" in hung["message"]
    run.assert_outcome("NET4", "gone", "passed", category="network", severity="medium")
    assert "Traceback" not in run.output


def test_NET2_fails_naming_addresses_outside_the_declared_ranges(
    run_checks: RunChecks, env_file: EnvFile, dns_zone: DnsServer
) -> None:
    dns_zone.set_records("demo.test", [("A", "203.0.113.7"), ("A", "127.0.0.1")])
    dns_zone.set_records("edge.demo.test", [("A", "10.1.2.3")])  # the proxy turned off: the origin's address
    hostnames = """  - name: apex
    host: demo.test
    records: [A]
    expect_in: [127.0.0.0/8]
  - name: edge
    host: edge.demo.test
    records: [A]
    expect_in: [cloudflare]
"""
    run = run_checks("--diagnosis", "NET2", env=env_file(dns_env(dns_zone.address, hostnames)))
    apex = run.assert_outcome("NET2", "apex", "failed", category="network", severity="high")
    assert apex["observed"].startswith("demo.test: 203.0.113.7 outside 127.0.0.0/8; inside: 127.0.0.1 (127.0.0.0/8)")
    assert apex["expected"] == "every address of demo.test in 127.0.0.0/8"
    assert apex["facts"]["outside"] == ["203.0.113.7"]
    edge = run.assert_outcome("NET2", "edge", "failed", category="network", severity="high")
    assert edge["observed"].startswith("edge.demo.test: 10.1.2.3 outside cloudflare")
    assert edge["expected"].startswith("every address of edge.demo.test in cloudflare (173.245.48.0/20, ")
    assert "cloudflare: 104.16.0.0/13" in edge["facts"]["expected_ranges"]
    assert "its proxy is off for this name" in edge["message"] and "private or loopback" in edge["message"]


def test_NET2_dns_providers_in_the_file_replace_the_shipped_ranges(
    run_checks: RunChecks, env_file: EnvFile, dns_zone: DnsServer
) -> None:
    hostnames = """  - name: apex
    host: demo.test
    records: [A]
    expect_in: [cloudflare]
  - name: edge
    host: edge.demo.test
    records: [A]
    expect_in: [cloudflare]
  - name: local
    host: v4.demo.test
    expect_in: [lab]
"""
    extra = "  providers:\n    cloudflare: [127.0.0.0/8]\n    lab: [127.0.0.2/32]\n"
    run = run_checks("--diagnosis", "NET2", env=env_file(dns_env(dns_zone.address, hostnames, extra=extra)))
    run.assert_outcome("NET2", "apex", "passed", category="network", severity="high")
    run.assert_outcome("NET2", "local", "passed", category="network", severity="high")
    edge = run.assert_outcome("NET2", "edge", "failed", category="network", severity="high")
    assert edge["expected"] == "every address of edge.demo.test in cloudflare (127.0.0.0/8)"
    assert "104.16.1.1 outside cloudflare" in edge["observed"]


def test_NET3_fails_on_an_a_record_instead_of_a_cname(
    run_checks: RunChecks, env_file: EnvFile, dns_zone: DnsServer
) -> None:
    dns_zone.set_records("www.demo.test", [("A", "127.0.0.1")])
    hostnames = """  - name: www
    host: www.demo.test
    cname: demo.test
  - name: alias
    host: alias.demo.test
    cname: demo.test.
"""
    run = run_checks("--diagnosis", "NET3", env=env_file(dns_env(dns_zone.address, hostnames)))
    www = run.assert_outcome("NET3", "www", "failed", category="network", severity="medium")
    assert www["observed"] == f"www.demo.test has A 127.0.0.1 instead of a CNAME to demo.test [resolver {dns_zone.address}]"
    assert www["expected"] == "www.demo.test CNAME demo.test"
    assert "is an address record, not an alias of demo.test" in www["message"]
    alias = run.assert_outcome("NET3", "alias", "failed", category="network", severity="medium")
    assert alias["observed"].startswith("alias.demo.test is a CNAME to www.demo.test, not to demo.test")


def test_NET4_fails_on_a_slow_answer_with_milliseconds_per_type(
    run_checks: RunChecks, env_file: EnvFile, dns_zone: DnsServer
) -> None:
    dns_zone.set_fault("slow.demo.test", "slow", delay_s=0.6)
    hostnames = """  - name: strict
    host: slow.demo.test
    max_resolution_ms: 300
  - name: default
    host: slow.demo.test
"""
    run = run_checks("--diagnosis", "NET4", env=env_file(dns_env(dns_zone.address, hostnames, timeout=2)))
    strict = run.assert_outcome("NET4", "strict", "failed", category="network", severity="medium")
    assert strict["observed"].startswith("slow.demo.test: slowest ")
    assert " (A 6" in strict["observed"] and ", AAAA 6" in strict["observed"]  # ~600 ms each
    assert strict["expected"] == "every query for slow.demo.test answered in under 300 ms"
    assert 600 <= strict["facts"]["slowest_ms"] < 1500
    assert "every new connection to it waits that long" in strict["message"]
    assert "Every type is slow" in strict["message"]
    # the same answer is within the catalogue's default of 1000 ms
    run.assert_outcome("NET4", "default", "passed", category="network", severity="medium")


def test_NET1_a_malformed_nameserver_is_an_error_of_the_file(run_checks: RunChecks, env_file: EnvFile) -> None:
    hostnames = "  - name: apex\n    host: demo.test\n"
    run = run_checks("--diagnosis", "NET1", env=env_file(dns_env("dns.internal", hostnames)))
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "dns.nameservers[0]: 'dns.internal' is not an IP address" in run.output
    assert "fix: write a resolver's IP" in run.output
    run = run_checks("--diagnosis", "NET1", env=env_file(dns_env("127.0.0.1:99999", hostnames)))
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "'127.0.0.1:99999': port '99999' is not a number from 1 to 65535" in run.output


# --- the demo's zone and faults, against environments/demo.yaml ----------------------------------------------


@pytest.fixture(scope="module")
def demo_dns() -> Iterator[DnsServer]:
    server = DnsServer(DEMO_ZONE).start()
    yield server
    server.stop()


def test_NET1_NET2_NET3_NET4_demo_zone_passes_with_demo_yaml(run_checks: RunChecks, demo_dns: DnsServer) -> None:
    demo_dns.reset()
    run = run_checks("--diagnosis", "NET1,NET2,NET3,NET4", environ={"HEALTHSUITE_DEMO_DNS_PORT": str(demo_dns.port)})
    run.result.assert_outcomes(passed=len(run.report["checks"]))
    assert {r["diagnosis"] for r in run.report["checks"]} == {"NET1", "NET2", "NET3", "NET4"}


@pytest.mark.parametrize(
    ("diagnosis", "target", "observed"),
    [
        ("NET1", "apex", "booking.demo.test: NXDOMAIN (A)"),
        ("NET2", "apex", "booking.demo.test: 203.0.113.7 outside 127.0.0.0/8"),
        ("NET3", "www", "www.booking.demo.test has A 127.0.0.1 instead of a CNAME to booking.demo.test"),
        ("NET4", "apex", "booking.demo.test: slowest A 1"),
    ],
)
def test_NET1_NET2_NET3_NET4_demo_faults_break_their_diagnosis(
    run_checks: RunChecks, demo_dns: DnsServer, diagnosis: str, target: str, observed: str
) -> None:
    demo_dns.reset()
    assert break_demo(demo_dns, diagnosis) == DEMO_FAULTS[diagnosis]
    try:
        run = run_checks(
            "--diagnosis", diagnosis, "-k", target, environ={"HEALTHSUITE_DEMO_DNS_PORT": str(demo_dns.port)}
        )
    finally:
        demo_dns.reset()
    record = run.record(diagnosis, target)
    assert record["outcome"] == "failed" and record["observed"].startswith(observed), record["observed"]


# --- NET7: CORS ------------------------------------------------------------------------------------------


def test_NET7_passes_on_the_demo_allow_list(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "NET7")
    record = run.assert_outcome("NET7", "api", "passed", category="network", severity="high")
    assert "https://booking.demo.test -> 204, allow-origin https://booking.demo.test" in record["observed"]
    assert "foreign https://foreign-origin.healthsuite.invalid -> allow-origin none" in record["observed"]
    assert record["facts"]["preflights"]["https://booking.demo.test"]["access-control-allow-credentials"] == "true"


def test_NET7_fails_when_any_origin_is_reflected(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set_mode("cors", "reflect")
    run = run_checks("--diagnosis", "NET7")
    record = run.assert_outcome("NET7", "api", "failed", category="network", severity="high")
    assert "foreign origin https://foreign-origin.healthsuite.invalid is echoed back" in record["observed"]
    assert "any website can call this API" in record["message"]


def test_NET7_fails_when_cors_is_missing(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set_mode("cors", "none")
    run = run_checks("--diagnosis", "NET7")
    record = run.assert_outcome("NET7", "api", "failed", category="network", severity="high")
    assert "the preflight answered HTTP 400, without CORS headers" in record["observed"]
    assert "browsers block the site's own calls" in record["message"]


def test_NET7_never_accepts_a_wildcard_with_credentials(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    stack.faults.set_mode("cors", "wildcard")  # `*` and Allow-Credentials: true
    run = run_checks("--diagnosis", "NET7")
    record = run.assert_outcome("NET7", "api", "failed", category="network", severity="high")
    assert "Access-Control-Allow-Origin is `*`, which browsers refuse on credentialed requests" in record["observed"]
    assert "the foreign origin gets `*` with credentials allowed" in record["observed"]
    public = env_file(
        edge_env(
            stack,
            """cors:
  - {name: public, path: /api/employees, origins: [https://any.example], allow_any_origin: true}
""",
        )
    )
    run = run_checks("--diagnosis", "NET7", env=public)  # a public API may answer `*`, not with credentials
    record = run.assert_outcome("NET7", "public", "failed", category="network", severity="high")
    assert record["observed"] == "the foreign origin gets `*` with credentials allowed"


def test_NET7_fails_on_an_origin_the_server_does_not_allow(
    run_checks: RunChecks, stack: DemoStack, env_file: Callable[[str], Path]
) -> None:
    path = env_file(
        edge_env(
            stack,
            """cors:
  - name: api
    path: /api/appointments
    origins: [https://booking.demo.test, https://admin.demo.test]
    request_method: DELETE
""",
        )
    )
    run = run_checks("--diagnosis", "NET7", env=path)
    record = run.assert_outcome("NET7", "api", "failed", category="network", severity="high")
    assert record["observed"].startswith("https://admin.demo.test: the preflight answered HTTP 400, without CORS headers")
    assert "https://booking.demo.test:" not in record["observed"]  # the allowed one is fine, DELETE included


# --- NET8: reverse proxy ---------------------------------------------------------------------------------


def test_NET8_passes_when_the_proxy_reaches_upstream(run_checks: RunChecks) -> None:
    run = run_checks("--diagnosis", "NET8")
    run.assert_outcome("NET8", "api", "passed", category="network", severity="high")


@pytest.mark.parametrize("status", [502, 504])
def test_NET8_fails_on_bad_gateway_and_gateway_timeout(run_checks: RunChecks, stack: DemoStack, status: int) -> None:
    stack.faults.set("/api/health", Fault(status=status))
    run = run_checks("--diagnosis", "NET8")
    record = run.assert_outcome("NET8", "api", "failed", category="network", severity="high")
    assert f"HTTP {status}" in record["observed"]
    assert ("Bad Gateway" if status == 502 else "Gateway Timeout") in record["message"]


def test_NET8_is_not_about_other_server_errors(run_checks: RunChecks, stack: DemoStack) -> None:
    stack.faults.set("/api/health", Fault(status=503))  # the upstream answered: AV2/AV3's business
    run = run_checks("--diagnosis", "NET8")
    run.assert_outcome("NET8", "api", "passed", category="network", severity="high")


@dataclass
class Pki:
    ca: TestCA
    ca_pem: Path
    directory: Path
    counter: int = 0

    def files(self, cert: IssuedCert) -> tuple[Path, Path]:
        self.counter += 1
        return cert.write(self.directory, f"cert-{self.counter}")

    def leaf(
        self, *names: str, not_before: datetime | None = None, not_after: datetime | None = None
    ) -> tuple[Path, Path]:
        return self.files(self.ca.issue(*(names or (NAME, LOOPBACK)), not_before=not_before, not_after=not_after))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = TestCA.create()
    return Pki(ca, ca.write(directory / "ca.pem"), directory)


@pytest.fixture
def serve(pki: Pki) -> Iterator[Callable[..., TlsServer]]:
    """serve(cert_files, maximum_version=...) starts a TlsServer, stopped after the test."""
    servers: list[TlsServer] = []

    def start(files: tuple[Path, Path] | None = None, maximum_version: ssl.TLSVersion | None = None) -> TlsServer:
        server = TlsServer(*(files or pki.leaf()), maximum_version=maximum_version).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def probe(server: TlsServer, pki: Pki | None, name: str = NAME, timeout: float = 3) -> TlsObservation:
    return handshake(LOOPBACK, server.port, name, str(pki.ca_pem) if pki else None, timeout)


# --- NET5, NET6: the TLS probe ------------------------------------------------------------------------------


def test_probe_verifies_a_valid_chain_by_name_and_by_ip(pki: Pki, serve: Callable[..., TlsServer]) -> None:
    server = serve()
    by_name = probe(server, pki)
    assert by_name.verified, by_name
    assert (by_name.protocol, by_name.verify_problem, by_name.error) == ("TLSv1.3", "", None)
    assert by_name.trusted_by == f"the CA bundle {pki.ca_pem}"
    [leaf] = by_name.chain
    assert (leaf.position, leaf.subject, leaf.sans) == ("leaf", f"CN={NAME}", (NAME, LOOPBACK))
    assert 89 < leaf.days_left(now()) <= 90 and not leaf.self_signed
    by_ip = probe(server, pki, name=LOOPBACK)
    assert by_ip.verified, by_ip
    assert server.server_names == [NAME, None]  # SNI carries the name, never an IP literal


@pytest.mark.parametrize(
    ("case", "problem", "words"),
    [
        ("expired", "expired", ["leaf certificate (subject CN=app.demo.test", "expired 1.0 days ago"]),
        ("not_yet_valid", "not_yet_valid", ["leaf certificate (subject CN=app.demo.test", "not valid yet", "in 2.0 days"]),
        ("wrong_host", "hostname", ["does not cover app.demo.test: it covers other.demo.test, www.other.demo.test"]),
        ("self_signed", "self_signed", ["leaf certificate (subject CN=app.demo.test, issuer CN=app.demo.test", "is self-signed"]),
        ("foreign_ca", "untrusted", ["issuer of the leaf certificate (O=healthsuite tests,CN=another CA)", "is not in the system trust store or the CA bundle"]),
        ("no_bundle", "untrusted", ["issuer of the leaf certificate (O=healthsuite tests,CN=healthsuite test root CA)", "is not in the system trust store, and the server does not send it"]),
        ("missing_intermediate", "untrusted", ["issuer of the leaf certificate (O=healthsuite tests,CN=healthsuite test intermediate CA 1)", "an incomplete chain (a missing intermediate)"]),
        ("expired_intermediate", "expired", ["intermediate 1 certificate (subject O=healthsuite tests,CN=healthsuite test intermediate CA 1", "expired 1.0 days ago"]),
    ],
)
def test_probe_reports_the_chain_and_names_each_verify_problem(
    pki: Pki, serve: Callable[..., TlsServer], case: str, problem: str, words: list[str]
) -> None:
    t = now()
    bundle: Pki | None = pki
    cert: IssuedCert
    if case == "expired":
        cert = pki.ca.issue(NAME, not_after=t - DAY)
    elif case == "not_yet_valid":
        cert = pki.ca.issue(NAME, not_before=t + 2 * DAY)
    elif case == "wrong_host":
        cert = pki.ca.issue("other.demo.test", "www.other.demo.test")
    elif case == "self_signed":
        cert = self_signed(NAME)
    elif case == "foreign_ca":
        cert = TestCA.create("another CA").issue(NAME)
    elif case == "no_bundle":
        cert, bundle = pki.ca.issue(NAME), None
    elif case == "missing_intermediate":
        full = pki.ca.intermediate().issue(NAME)
        cert = IssuedCert(full.cert, full.key)  # the server forgets its intermediate
    else:
        cert = pki.ca.intermediate(not_after=t - DAY).issue(NAME)
    obs = probe(serve(pki.files(cert)), bundle)
    assert obs.error is None and not obs.verified
    assert obs.verify_problem == problem, obs.verify_error
    for word in words:
        assert word in obs.verify_error, (word, obs.verify_error)
    assert obs.chain and obs.chain[0].position == "leaf" and obs.protocol == "TLSv1.3"  # reported all the same
    if case == "expired_intermediate":
        assert [c.position for c in obs.chain] == ["leaf", "intermediate 1"]


def test_probe_reports_chain_positions_and_verifies_through_intermediates(
    pki: Pki, serve: Callable[..., TlsServer]
) -> None:
    first = pki.ca.intermediate("issuing CA one")
    obs = probe(serve(pki.files(first.intermediate("issuing CA two").issue(NAME))), pki)
    assert obs.verified, obs.verify_error
    assert [(c.position, c.subject) for c in obs.chain] == [
        ("leaf", f"CN={NAME}"),
        ("intermediate 1", "O=healthsuite tests,CN=issuing CA two"),
        ("intermediate 2", "O=healthsuite tests,CN=issuing CA one"),
    ]


def test_probe_accepts_a_self_signed_certificate_pinned_in_the_bundle(
    pki: Pki, serve: Callable[..., TlsServer], tmp_path: Path
) -> None:
    pinned = self_signed(NAME)
    bundle = tmp_path / "pinned.pem"
    bundle.write_bytes(pinned.cert_pem)
    obs = handshake(LOOPBACK, serve(pki.files(pinned)).port, NAME, str(bundle), 3)
    assert obs.verified and obs.trusted_by == f"the CA bundle {bundle}", obs.verify_error


def test_probe_accepts_what_clients_accept_but_still_requires_server_auth(
    pki: Pki, serve: Callable[..., TlsServer], tmp_path: Path
) -> None:
    """trustme marks subjectAltName and extendedKeyUsage critical (browsers and OpenSSL accept it, RFC 5280's
    strict reading does not): verified. A certificate for client authentication only: refused, named."""
    ca = trustme.CA()
    issued = ca.issue_cert(LOOPBACK, NAME)
    chain, key, bundle = tmp_path / "chain.pem", tmp_path / "key.pem", tmp_path / "trustme-ca.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    key.write_bytes(issued.private_key_pem.bytes())
    ca.cert_pem.write_to_path(str(bundle))
    lenient = handshake(LOOPBACK, serve((chain, key)).port, NAME, str(bundle), 3)
    assert lenient.verified, lenient.verify_error
    client_only = pki.files(pki.ca.issue(NAME, usages=(ExtendedKeyUsageOID.CLIENT_AUTH,)))
    refused = probe(serve(client_only), pki)
    assert refused.verify_problem == "other"
    assert refused.verify_error.startswith(
        "the leaf certificate (subject CN=app.demo.test, issuer O=healthsuite tests,CN=healthsuite test root CA, "
        "SANs app.demo.test) is not for TLS servers: its extendedKeyUsage does not allow TLS server "
        "authentication (serverAuth); reissue the certificate with `extendedKeyUsage=serverAuth`"
    ), refused.verify_error


def test_probe_names_an_unreadable_ca_bundle(pki: Pki, serve: Callable[..., TlsServer], tmp_path: Path) -> None:
    obs = handshake(LOOPBACK, serve().port, NAME, str(tmp_path / "missing.pem"), 3)
    assert obs.verify_problem == "other" and "cannot be read" in obs.verify_error and obs.chain


def test_probe_observes_tls_1_1_instead_of_refusing_it(pki: Pki, serve: Callable[..., TlsServer]) -> None:
    for version, name in ((ssl.TLSVersion.TLSv1_1, "TLSv1.1"), (ssl.TLSVersion.TLSv1_2, "TLSv1.2")):
        obs = probe(serve(maximum_version=version), pki)
        assert (obs.protocol, obs.verified) == (name, True), obs
        assert obs.cipher


def test_probe_times_out_on_a_server_that_never_handshakes() -> None:
    with SilentListener() as silent:
        obs = handshake(silent.host, silent.port, NAME, None, 0.5)
    assert obs.error is not None and obs.error.kind == "timeout", obs
    assert "within its 0.5 s deadline" in obs.error.detail and "TLS handshake" in obs.error.detail
    assert 0.4 < obs.elapsed_s < 1.5 and not obs.chain


def test_probe_names_refused_and_non_tls_answers() -> None:
    refused = handshake(LOOPBACK, free_port(), NAME, None, 2)
    assert refused.error is not None and refused.error.kind == "refused"
    with GarbageListener(b"HTTP/1.1 400 Bad Request\r\n\r\n") as plain:
        garbage = handshake(plain.host, plain.port, NAME, None, 2)
    assert garbage.error is not None and garbage.error.kind == "protocol"  # issue 17: not TLS at all
    assert "not with TLS" in garbage.error.detail, garbage.error


def test_server_swap_presents_the_new_certificate_from_the_next_handshake(
    pki: Pki, serve: Callable[..., TlsServer]
) -> None:
    server = serve()
    before = probe(server, pki)
    server.swap(*pki.leaf(NAME, not_after=now() + 5 * DAY))
    after = probe(server, pki)
    assert before.chain[0].sha256 != after.chain[0].sha256
    assert 4.9 < after.chain[0].days_left(now()) <= 5


def test_covers_follows_rfc_6125_wildcards() -> None:
    assert covers(["*.demo.test"], "app.demo.test") and covers(["APP.demo.test"], "app.demo.test.")
    assert not covers(["*.demo.test"], "demo.test") and not covers(["*.demo.test"], "a.b.demo.test")
    assert covers(["::1", "127.0.0.1"], "127.0.0.1") and not covers(["127.0.0.1"], "127.0.0.2")


# --- NET5, NET6: the checks, end to end ---------------------------------------------------------------------


def tls_env(
    port: int,
    *,
    ca: Path | None,
    server_name: str = NAME,
    extra: str = "",
    target: str = "http_redirect: false",
) -> str:
    http = f"http:\n  ca_bundle: {ca}\n" if ca else ""
    return f"""
name: tls
kind: test
{http}timeouts:
  http_s: 3
tls:
  - name: app
    url: "https://127.0.0.1:{port}"
    server_name: {server_name}
    {target}
{extra}"""




def test_NET5_NET6_pass_on_a_valid_certificate_and_tls_1_3(
    run_checks: RunChecks, env_file: EnvFile, pki: Pki, serve: Callable[..., TlsServer]
) -> None:
    server = serve()
    run = run_checks("--diagnosis", "NET5,NET6", env=env_file(tls_env(server.port, ca=pki.ca_pem)))
    run.result.assert_outcomes(passed=2)
    net5 = run.assert_outcome("NET5", "app", "passed", category="network", severity="critical")
    assert net5["observed"].startswith(f"valid chain for {NAME} (trusted by the CA bundle {pki.ca_pem}); earliest expiry: leaf")
    facts = net5["facts"]
    assert facts["protocol"] == "TLSv1.3" and facts["window"] == "ok"
    [leaf] = facts["chain"]
    assert leaf["position"] == "leaf" and leaf["subject"] == f"CN={NAME}" and leaf["sans"] == [NAME, LOOPBACK]
    assert leaf["issuer"] == "O=healthsuite tests,CN=healthsuite test root CA" and 89 < leaf["days_left"] <= 90
    assert leaf["not_after"].startswith(str((now() + 90 * DAY).year))
    net6 = run.assert_outcome("NET6", "app", "passed", category="network", severity="medium")
    assert net6["observed"].startswith("negotiated TLSv1.3 (TLS_")


def test_NET5_fails_high_inside_the_warning_window_naming_the_leaf(
    run_checks: RunChecks, env_file: EnvFile, pki: Pki, serve: Callable[..., TlsServer]
) -> None:
    server = serve(pki.leaf(NAME, LOOPBACK, not_after=now() + 20 * DAY))
    run = run_checks("--diagnosis", "NET5", env=env_file(tls_env(server.port, ca=pki.ca_pem)))
    record = run.assert_outcome("NET5", "app", "failed", category="network", severity="high")
    observed = record["observed"]
    assert observed.startswith(
        "leaf certificate (subject CN=app.demo.test, issuer O=healthsuite tests,CN=healthsuite test root CA, "
        "SANs app.demo.test, 127.0.0.1) expires in 20.0 days (not after "
    ), observed
    assert observed.endswith("inside the 30-day warning window")
    assert "NET5 TLS certificates are valid, match, chain and are not expiring [high, network]" in record["message"]
    assert "inside 7 days this check fails as critical" in record["message"]
    assert f"openssl s_client -connect 127.0.0.1:{server.port} -servername {NAME}" in record["message"]
    assert record["facts"]["window"] == "warning" and record["facts"]["earliest"]["position"] == "leaf"


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("expires_in_5_days", ["leaf certificate (subject CN=app.demo.test", "expires in 5.0 days", "inside the 7-day critical window"]),
        ("expired_yesterday", ["certificate expired: the leaf certificate (subject CN=app.demo.test", "expired 1.0 days ago"]),
        ("wrong_host", ["host name mismatch: the leaf certificate (subject CN=www.elsewhere.test", "does not cover app.demo.test: it covers www.elsewhere.test"]),
        ("self_signed", ["self-signed certificate: the leaf certificate (subject CN=app.demo.test, issuer CN=app.demo.test"]),
        ("untrusted", ["untrusted issuer: the issuer of the leaf certificate (O=healthsuite tests,CN=healthsuite test root CA) is not in the system trust store, and the server does not send it"]),
    ],
)
def test_NET5_fails_critical(
    run_checks: RunChecks, env_file: EnvFile, pki: Pki, serve: Callable[..., TlsServer], case: str, words: list[str]
) -> None:
    t = now()
    ca: Path | None = pki.ca_pem
    if case == "expires_in_5_days":
        files = pki.leaf(not_after=t + 5 * DAY)
    elif case == "expired_yesterday":
        files = pki.leaf(not_after=t - DAY)
    elif case == "wrong_host":
        files = pki.leaf("www.elsewhere.test")
    elif case == "self_signed":
        files = pki.files(self_signed(NAME))
    else:
        files, ca = pki.leaf(), None  # the system trust store only: the demo CA is not in it
    server = serve(files)
    run = run_checks("--diagnosis", "NET5", env=env_file(tls_env(server.port, ca=ca)))
    record = run.assert_outcome("NET5", "app", "failed", category="network", severity="critical")
    for word in words:
        assert word in record["observed"], (word, record["observed"])
        assert word in record["message"]
    assert "[critical, network]" in record["message"] and "Traceback" not in run.output
    assert record["facts"]["chain"][0]["position"] == "leaf"


def test_NET5_names_an_intermediate_that_expires_before_the_leaf(
    run_checks: RunChecks, env_file: EnvFile, pki: Pki, serve: Callable[..., TlsServer]
) -> None:
    t = now()
    intermediate = pki.ca.intermediate("issuing CA 2024", not_after=t + 3 * DAY)
    server = serve(pki.files(intermediate.issue(NAME, not_after=t + 80 * DAY)))
    run = run_checks("--diagnosis", "NET5", env=env_file(tls_env(server.port, ca=pki.ca_pem)))
    record = run.assert_outcome("NET5", "app", "failed", category="network", severity="critical")
    assert record["observed"].startswith(
        "intermediate 1 certificate (subject O=healthsuite tests,CN=issuing CA 2024, "
        "issuer O=healthsuite tests,CN=healthsuite test root CA, no SANs) expires in 3.0 days"
    ), record["observed"]
    assert "the leaf (CN=app.demo.test) has 80.0 days left" in record["observed"]
    assert "renewing the leaf alone does not help" in record["message"]
    positions = [(c["position"], c["subject"]) for c in record["facts"]["chain"]]
    assert positions == [("leaf", "CN=app.demo.test"), ("intermediate 1", "O=healthsuite tests,CN=issuing CA 2024")]
    assert record["facts"]["earliest"]["position"] == "intermediate 1"


def test_NET5_warning_window_in_staging_is_medium(
    run_checks: RunChecks, env_file: EnvFile, pki: Pki, serve: Callable[..., TlsServer]
) -> None:
    """With NET5 overridden to high (a staging file), the warning window fails one level below: medium."""
    server = serve(pki.leaf(not_after=now() + 20 * DAY))
    staging = tls_env(server.port, ca=pki.ca_pem, extra="severity_overrides:\n  NET5: high\n")
    run = run_checks("--diagnosis", "NET5", env=env_file(staging.replace("kind: test", "kind: staging")))
    record = run.assert_outcome("NET5", "app", "failed", category="network", severity="medium")
    assert "[medium, network]" in record["message"] and "fails as high" in record["message"]


def test_NET5_thresholds_move_the_windows(
    run_checks: RunChecks, env_file: EnvFile, pki: Pki, serve: Callable[..., TlsServer]
) -> None:
    server = serve(pki.leaf(not_after=now() + 20 * DAY))
    extra = "thresholds:\n  NET5: {warning_days: 14, critical_days: 3}\n"
    run = run_checks("--diagnosis", "NET5", env=env_file(tls_env(server.port, ca=pki.ca_pem, extra=extra)))
    run.assert_outcome("NET5", "app", "passed", category="network", severity="critical")


def test_NET5_fails_on_a_hung_handshake_with_timeout(run_checks: RunChecks, env_file: EnvFile) -> None:
    with SilentListener() as silent:
        text = tls_env(silent.port, ca=None).replace("http_s: 3", "http_s: 0.5")
        run = run_checks("--diagnosis", "NET5", env=env_file(text))
    record = run.assert_outcome("NET5", "app", "failed", category="network", severity="critical")
    assert record["observed"].startswith("timed out:") and record["duration_s"] < 3


def test_NET6_passes_on_tls_1_2_and_fails_on_tls_1_1(
    run_checks: RunChecks, env_file: EnvFile, pki: Pki, serve: Callable[..., TlsServer]
) -> None:
    tls12 = serve(maximum_version=ssl.TLSVersion.TLSv1_2)
    tls11 = serve(maximum_version=ssl.TLSVersion.TLSv1_1)
    text = tls_env(tls12.port, ca=pki.ca_pem) + f"""
  - name: legacy
    url: "https://127.0.0.1:{tls11.port}"
    server_name: {NAME}
    http_redirect: false
"""
    run = run_checks("--diagnosis", "NET6", env=env_file(text))
    ok = run.assert_outcome("NET6", "app", "passed", category="network", severity="medium")
    assert ok["observed"].startswith("negotiated TLSv1.2 (")
    record = run.assert_outcome("NET6", "legacy", "failed", category="network", severity="medium")
    assert record["observed"].startswith("negotiated TLSv1.1 (") and "although TLS 1.0 to 1.3 were offered" in record["observed"]
    assert record["expected"] == "TLS 1.2 or newer negotiated"
    assert "current browsers refuse TLS below 1.2" in record["message"]
    assert f"openssl s_client -connect 127.0.0.1:{tls11.port} -servername {NAME} -tls1_2" in record["message"]
    assert record["facts"]["protocol"] == "TLSv1.1"


def test_NET6_checks_the_plain_http_redirect_too(
    run_checks: RunChecks, env_file: EnvFile, pki: Pki, serve: Callable[..., TlsServer]
) -> None:
    server = serve()
    with (
        PlainHttpServer(redirect_response(f"https://{NAME}:{server.port}/")) as redirecting,
        PlainHttpServer() as serving,
    ):
        text = tls_env(server.port, ca=pki.ca_pem, target=f"http_url: {redirecting.url}/") + f"""
  - name: plain
    url: "https://127.0.0.1:{server.port}"
    server_name: {NAME}
    http_url: {serving.url}/
"""
        run = run_checks("--diagnosis", "NET6", env=env_file(text))
    record = run.assert_outcome("NET6", "app", "passed", category="network", severity="medium")
    assert record["observed"].startswith("negotiated TLSv1.3 (") and "HTTP 301" in record["observed"]
    record = run.assert_outcome("NET6", "plain", "failed", category="network", severity="medium")
    assert "negotiated TLSv1.3" in record["observed"] and "HTTP 200" in record["observed"]


# --- a private CA made with the openssl command line: NET5 judges as the HTTP checks, curl and Python do --------


class OpensslPki:
    """Certificates made the way an operator makes them, with the real `openssl` command line."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.counter = 0

    def run(self, *args: str) -> None:
        subprocess.run(["openssl", *args], cwd=self.directory, check=True, capture_output=True, timeout=60)

    def ca(self, subject: str, *extra: str, config: str | None = None) -> tuple[Path, Path]:
        """`openssl req -x509 -newkey rsa:2048 -nodes -subj SUBJECT ...`: the CA's certificate and key."""
        self.counter += 1
        cert, key = self.directory / f"ca-{self.counter}.pem", self.directory / f"ca-{self.counter}.key"
        args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", str(key),
                "-out", str(cert), "-days", "365", *extra]
        if config is not None:
            conf = self.directory / f"ca-{self.counter}.cnf"
            conf.write_text(config)
            args += ["-config", str(conf)]
        self.run(*args)
        return cert, key

    def server(self, ca: tuple[Path, Path], subject: str = f"/CN={NAME}", san: str | None = f"DNS:{NAME},IP:{LOOPBACK}") -> tuple[Path, Path]:
        """A server key and CSR, signed by `ca` with `openssl x509 -req` (and an -extfile with the SAN):
        (chain file, key file) as nginx's ssl_certificate and ssl_certificate_key take them."""
        self.counter += 1
        key, csr = self.directory / f"srv-{self.counter}.key", self.directory / f"srv-{self.counter}.csr"
        cert = self.directory / f"srv-{self.counter}.pem"
        self.run("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", str(key), "-out", str(csr))
        args = ["x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
                "-out", str(cert), "-days", "90"]
        if san is not None:
            ext = self.directory / f"srv-{self.counter}.ext"
            ext.write_text(f"subjectAltName={san}\n")
            args += ["-extfile", str(ext)]
        self.run(*args)
        return cert, key


@pytest.fixture(scope="module")
def openssl_pki(tmp_path_factory: pytest.TempPathFactory) -> OpensslPki:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command line is needed: these tests make certificates the way an operator does")
    return OpensslPki(tmp_path_factory.mktemp("openssl-pki"))


def extension_of(path: Path, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def python_ssl_verdict(port: int, ca: Path, server_name: str = NAME) -> str:
    """What Python's ssl (what the HTTP checks use) says of the server: "ok" or its verify message."""
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection((LOOPBACK, port), timeout=3) as sock:
            with context.wrap_socket(sock, server_hostname=server_name):
                return "ok"
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message)


def curl_verdict(port: int, ca: Path) -> str | None:
    """What curl says (None when curl is not installed): "ok" or its exit code and error."""
    if shutil.which("curl") is None:
        return None
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "--max-time", "5", "--cacert", str(ca),
         "--resolve", f"{NAME}:{port}:{LOOPBACK}", f"https://{NAME}:{port}/"],
        capture_output=True, text=True, timeout=30,
    )
    return "ok" if done.returncode == 0 else f"{done.returncode}: {done.stderr.strip()}"


def tls_and_page_env(port: int, ca: Path, extra: str = "") -> str:
    """NET5 and AV1 on the same server: a TLS endpoint and a page behind it."""
    return tls_env(port, ca=ca, extra=f"""base_urls:
  app: https://127.0.0.1:{port}
pages:
  - name: home
    path: /
{extra}""")


def test_NET5_AV1_agree_on_a_private_ca_made_with_plain_openssl_req(
    run_checks: RunChecks, env_file: EnvFile, openssl_pki: OpensslPki, serve: Callable[..., TlsServer]
) -> None:
    """Issue 24: `openssl req -x509` without -addext makes a CA without keyUsage. curl, Python and AV1
    accept it: NET5 passes too, and notes the WebPKI rule it breaks, the certificate and the fix."""
    ca = openssl_pki.ca("/CN=Private CA")
    assert extension_of(ca[0], x509.KeyUsage) is None  # the fault is real: what plain openssl makes
    server = serve(openssl_pki.server(ca))
    assert python_ssl_verdict(server.port, ca[0]) == "ok"
    assert curl_verdict(server.port, ca[0]) in ("ok", None)
    run = run_checks("--diagnosis", "NET5,AV1", env=env_file(tls_and_page_env(server.port, ca[0])))
    run.assert_outcome("AV1", "home", "passed", category="availability", severity="critical")
    net5 = run.assert_outcome("NET5", "app", "passed", category="network", severity="critical")
    observed = net5["observed"]
    assert observed.startswith(f"valid chain for {NAME} (trusted by the CA bundle {ca[0]}); earliest expiry: leaf")
    assert "a note, not a failure (NET5's threshold webpki_rules is 0" in observed
    assert f"the CA certificate of the CA bundle {ca[0]} (subject CN=Private CA) has no keyUsage extension" in observed
    assert "-addext keyUsage=critical,keyCertSign,cRLSign" in observed
    assert "candidates exhausted" not in observed and "2.5.29.15" not in observed
    assert net5["facts"]["stricter_rules"] == {
        "problem": "webpki", "failing": False, "severity": "medium", "webpki_rules": False,
    }


def test_NET5_fails_on_the_webpki_rules_as_a_warning_when_asked(
    openssl_pki: OpensslPki, serve: Callable[..., TlsServer]
) -> None:
    """With webpki_rules on, the CA without keyUsage fails two levels below NET5's severity (medium for
    critical), naming the certificate, the extension and the `-addext` fix; remade with the fix, it passes."""
    ca = openssl_pki.ca("/CN=Private CA")
    server = serve(openssl_pki.server(ca))
    obs = handshake(LOOPBACK, server.port, NAME, str(ca[0]), 3)
    assert obs.verify_problem == "webpki" and obs.trusted_by == f"the CA bundle {ca[0]}", obs.verify_error
    strict = certificate(obs, warning_days=30, critical_days=7, severity="critical", webpki_rules=True)
    assert not strict.ok and strict.severity == "medium", strict
    assert strict.observed.startswith(
        "WebPKI rules not met: OpenSSL clients (curl, Python, nginx, and this suite's HTTP checks) accept the "
        f"chain, but it breaks stricter rules: the CA certificate of the CA bundle {ca[0]} (subject CN=Private CA) "
        "has no keyUsage extension (a CA needs keyUsage=critical,keyCertSign,cRLSign"
    ), strict.observed
    assert (
        "`openssl req -x509 -key ca.key -subj '/CN=Private CA' -days 3650 -addext basicConstraints=critical,CA:TRUE "
        "-addext keyUsage=critical,keyCertSign,cRLSign -out ca.pem`"
    ) in strict.observed
    assert "nothing is refused today" in strict.meaning
    assert certificate(obs, warning_days=30, critical_days=7, severity="critical").ok  # the default: a note
    assert certificate(obs, warning_days=30, critical_days=7, severity="high", webpki_rules=True).severity == "low"

    # the fix, as the message gives it: the same key and subject, the extensions added
    fixed = openssl_pki.directory / "ca-fixed.pem"
    openssl_pki.run("req", "-x509", "-key", str(ca[1]), "-subj", "/CN=Private CA", "-days", "3650",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(fixed))
    healed = handshake(LOOPBACK, server.port, NAME, str(fixed), 3)
    assert healed.verified and healed.verify_problem == "", healed.verify_error
    assert certificate(healed, warning_days=30, critical_days=7, severity="critical", webpki_rules=True).ok


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("no_basic_constraints", "has no basicConstraints extension, so it is not a CA"),
        ("ca_false", "has basicConstraints CA:FALSE: it is not a CA"),
    ],
)
def test_NET5_AV1_fail_on_a_ca_that_is_not_a_ca_naming_it(
    run_checks: RunChecks,
    env_file: EnvFile,
    openssl_pki: OpensslPki,
    serve: Callable[..., TlsServer],
    case: str,
    words: str,
) -> None:
    """A CA without basicConstraints CA:TRUE: every client refuses it. NET5 fails critical naming the
    certificate, what is wrong with it and the -addext fix; AV1 fails too, and so do Python and curl."""
    if case == "no_basic_constraints":
        config = "[req]\ndistinguished_name = dn\nx509_extensions = v3\n[dn]\n[v3]\nsubjectKeyIdentifier = hash\n"
        ca = openssl_pki.ca("/CN=Private CA", config=config)
        assert extension_of(ca[0], x509.BasicConstraints) is None
    else:
        ca = openssl_pki.ca("/CN=Private CA", "-addext", "basicConstraints=critical,CA:FALSE")
    server = serve(openssl_pki.server(ca))
    assert python_ssl_verdict(server.port, ca[0]) == "invalid CA certificate"
    assert curl_verdict(server.port, ca[0]) != "ok"
    run = run_checks("--diagnosis", "NET5,AV1", env=env_file(tls_and_page_env(server.port, ca[0])))
    av1 = run.assert_outcome("AV1", "home", "failed", category="availability", severity="critical")
    assert "invalid CA certificate" in av1["observed"], av1["observed"]
    net5 = run.assert_outcome("NET5", "app", "failed", category="network", severity="critical")
    observed = net5["observed"]
    assert observed.startswith(
        f"invalid CA certificate: the CA certificate of the CA bundle {ca[0]} (subject CN=Private CA) {words}"
    ), observed
    assert "-addext basicConstraints=critical,CA:TRUE" in observed and "(OpenSSL: \"invalid CA certificate\")" in observed
    assert net5["facts"]["verify_problem"] == "invalid_ca"
    assert "A server (leaf) certificate was used as the CA" in net5["message"]


def test_NET5_fails_one_level_below_on_a_leaf_without_subject_alt_name(
    run_checks: RunChecks, env_file: EnvFile, openssl_pki: OpensslPki, serve: Callable[..., TlsServer]
) -> None:
    """A leaf naming the host only in its CN: Python and curl accept it (the CN), browsers do not. NET5
    fails one level below its severity (high), naming the leaf and the subjectAltName fix."""
    ca = openssl_pki.ca("/CN=Private CA", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    files = openssl_pki.server(ca, san=None)
    assert extension_of(files[0], x509.SubjectAlternativeName) is None
    server = serve(files)
    assert python_ssl_verdict(server.port, ca[0]) == "ok"
    assert curl_verdict(server.port, ca[0]) in ("ok", None)
    run = run_checks("--diagnosis", "NET5", env=env_file(tls_env(server.port, ca=ca[0])))
    net5 = run.assert_outcome("NET5", "app", "failed", category="network", severity="high")
    observed = net5["observed"]
    assert observed.startswith(
        "refused by browsers: OpenSSL clients (curl, Python, nginx, and this suite's HTTP checks) accept the chain, "
        "but it breaks browsers' rules: the leaf certificate (subject CN=app.demo.test, issuer CN=Private CA, "
        "no SANs) has no subjectAltName extension"
    ), observed
    assert "`-addext subjectAltName=DNS:app.demo.test`" in observed
    assert "browsers read only the subjectAltName" in net5["message"] and "[high, network]" in net5["message"]
    # the same leaf by IP: OpenSSL matches an IP only by an IP SAN, so every client refuses it
    by_ip = handshake(LOOPBACK, server.port, LOOPBACK, str(ca[0]), 3)
    assert by_ip.verify_problem == "hostname", by_ip.verify_error
    assert by_ip.verify_error.endswith(
        "does not cover 127.0.0.1: it covers no subjectAltName at all (an IP address is matched by an IP address "
        "SAN only)"
    ), by_ip.verify_error
    assert python_ssl_verdict(server.port, ca[0], server_name=LOOPBACK).startswith("IP address mismatch")
