"""NET1-NET4 against a real DNS server on loopback (healthsuite.testing.dns): the probe's outcomes, then
the checks end to end, passing when healthy and failing on each fault with the outcome named."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import pytest

from healthsuite.probes.resolver import DnsObservation, resolve
from healthsuite.testing.dns import ANY_NAME, DEMO_FAULTS, DEMO_ZONE, DnsServer, break_demo
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


EnvFile = Callable[..., Path]


# --- the probe ------------------------------------------------------------------------------------------


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


# --- the checks, end to end -------------------------------------------------------------------------------


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


def test_net1_to_net4_pass_when_dns_is_healthy(run_checks: RunChecks, env_file: EnvFile, dns_zone: DnsServer) -> None:
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


def test_net1_fails_naming_nxdomain_servfail_no_answer_and_timeout(
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


def test_net2_fails_naming_addresses_outside_the_declared_ranges(
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


def test_dns_providers_in_the_file_replace_the_shipped_ranges(
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


def test_net3_fails_on_an_a_record_instead_of_a_cname(run_checks: RunChecks, env_file: EnvFile, dns_zone: DnsServer) -> None:
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


def test_net4_fails_on_a_slow_answer_with_milliseconds_per_type(
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


def test_a_malformed_nameserver_is_an_error_of_the_file(run_checks: RunChecks, env_file: EnvFile) -> None:
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


def test_demo_zone_passes_net1_to_net4_with_demo_yaml(run_checks: RunChecks, demo_dns: DnsServer) -> None:
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
def test_demo_faults_break_their_diagnosis(
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
