"""Every failure kind named for what happened (issue 17): against each hostile listener, each probe
names the kind a person would name: a peer answering garbage is `protocol`, one closing at once is
`reset`, silence is `timeout`, nothing listening is `refused`.

The probes are run for real (one test per probe and kind), then the checks end to end: one pytest
run in a subprocess per kind, whose JSON report must carry the kind (`facts.failure_kind`) and its
sentence (`observed`)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import pytest

from healthsuite.catalogue.diagnoses import load_catalogue
from healthsuite.probes import postgres, redis, resolver, tcp, tls
from healthsuite.probes.errors import ProbeError
from healthsuite.testing.hostile import (
    BINARY_STATUS_LINE,
    MALFORMED_DNS,
    NOT_DNS,
    CloseListener,
    GarbageDnsServer,
    GarbageListener,
    SilentListener,
    hostile_dns,
)
from healthsuite.testing.ports import free_port
from tests.conftest import CHECKS, PROJECT

NOT_DNS_SENTENCE = "answered, but not in the DNS protocol"
SENTENCES = {  # the catalogue's `means` of each kind, without its address
    "protocol": "answered, but not in the expected protocol",
    "reset": "closed or reset the connection",
    "timeout": "no answer from",
    "refused": "nothing accepted the connection at",
}
Hostile = Callable[[ExitStack], int]  # opens a listener in the stack, returns its port


def _garbage(stack: ExitStack) -> int:
    return stack.enter_context(GarbageListener()).port


def _close(stack: ExitStack) -> int:
    return stack.enter_context(CloseListener()).port


def _silent(stack: ExitStack) -> int:
    return stack.enter_context(SilentListener()).port


def _nothing(stack: ExitStack) -> int:
    """A port bound but not listening: connecting is refused, and no other test can take the port."""
    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    sock.bind(("127.0.0.1", 0))
    return int(sock.getsockname()[1])


LISTENERS: dict[str, Hostile] = {"protocol": _garbage, "reset": _close, "timeout": _silent, "refused": _nothing}


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as opened:
        yield opened


def _assert_kind(error: ProbeError | None, kind: str) -> None:
    assert error is not None, "the probe passed"
    assert error.kind == kind, error


# --- the probes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(LISTENERS))
def test_postgres_probe(stack: ExitStack, kind: str) -> None:
    """Default sslmode (prefer): a garbage answer to the SSLRequest is not PostgreSQL, not a TLS failure."""
    port = LISTENERS[kind](stack)
    _assert_kind(postgres.select_one(f"postgresql://monitor:pw@127.0.0.1:{port}/app", 2).error, kind)


def test_postgres_probe_without_ssl_on_garbage(stack: ExitStack) -> None:
    port = _garbage(stack)
    error = postgres.select_one(f"postgresql://monitor:pw@127.0.0.1:{port}/app?sslmode=disable", 2).error
    assert error is not None and error.kind in ("protocol", "reset"), error


@pytest.mark.parametrize("kind", list(LISTENERS))
def test_redis_probe(stack: ExitStack, kind: str) -> None:
    port = LISTENERS[kind](stack)
    _assert_kind(redis.ping(f"redis://127.0.0.1:{port}/0", None, None, 1).error, kind)


@pytest.mark.parametrize("kind", list(LISTENERS))
def test_tls_probe(stack: ExitStack, kind: str) -> None:
    port = LISTENERS[kind](stack)
    _assert_kind(tls.handshake("127.0.0.1", port, "localhost", None, 1).error, kind)


def test_tcp_probe_refused(stack: ExitStack) -> None:
    _assert_kind(tcp.connect("127.0.0.1", _nothing(stack), 1).error, "refused")


@pytest.mark.parametrize("kind", ["protocol", "reset", "timeout"])
def test_tcp_probe_only_asks_whether_the_port_accepts(stack: ExitStack, kind: str) -> None:
    """AV4 is `nc -zv`: a port that accepts passes, whatever it answers afterwards (other checks judge that)."""
    port = LISTENERS[kind](stack)
    assert tcp.connect("127.0.0.1", port, 1).connected


@pytest.mark.parametrize("payload", [NOT_DNS, MALFORMED_DNS])
def test_dns_probe_protocol(payload: str) -> None:
    with GarbageDnsServer(payload) as server:
        obs = resolver.resolve("app.hostile.test", ["A", "AAAA"], [("127.0.0.1", server.port)], 2)
        assert server.queries >= 1
    for answer in obs.answers.values():
        assert (answer.outcome, answer.failure_kind) == ("protocol", "protocol"), answer
        assert f"{server.address} {NOT_DNS_SENTENCE}" in answer.detail, answer.detail
        assert answer.elapsed_s < 1.5, "garbage is an answer, not a wait for the timeout"


def test_dns_probe_timeout() -> None:
    with hostile_dns("drop") as server:
        obs = resolver.resolve("app.hostile.test", ["A"], [("127.0.0.1", server.port)], 0.5)
    assert obs.answers["A"].failure_kind == "timeout", obs.answers


def test_dns_probe_refused() -> None:
    obs = resolver.resolve("app.hostile.test", ["A"], [("127.0.0.1", free_port())], 2)
    assert obs.answers["A"].failure_kind == "refused", obs.answers
    assert "connection refused" in obs.answers["A"].detail


def test_every_kind_is_in_the_catalogue() -> None:
    kinds = load_catalogue().failure_kinds
    for kind, sentence in SENTENCES.items():
        assert sentence in kinds[kind].means.format(address="ADDRESS"), kind
    assert kinds["protocol"].remediation.get("tls"), "protocol advice for the TLS probe"


# --- end to end: one pytest run per kind ----------------------------------------------------------


def _environment(kind: str, stack: ExitStack) -> str:
    ports = {probe: LISTENERS[kind](stack) for probe in ("http", "tls", "postgres", "redis", "tcp")}
    if kind == "protocol":  # a binary status line: no HTTP client can read it
        ports["http"] = stack.enter_context(GarbageListener(BINARY_STATUS_LINE)).port
    if kind == "protocol":
        dns_port = stack.enter_context(GarbageDnsServer()).port
    elif kind == "timeout":
        dns_port = stack.enter_context(hostile_dns("drop")).port
    else:  # reset has no meaning over UDP: refused stands in
        dns_port = free_port()
    return f"""
name: kinds-{kind}
kind: test
timeouts: {{dns_s: 1, connect_s: 1, database_s: 2, cache_s: 1, http_s: 1}}
pages:
  - {{name: web, url: "http://127.0.0.1:{ports['http']}/", timeout_s: 1}}
tls:
  - {{name: web, url: "https://127.0.0.1:{ports['tls']}", timeout_s: 1, http_redirect: false}}
databases:
  - {{name: db, engine: postgresql, dsn: "postgresql://monitor@127.0.0.1:{ports['postgres']}/app"}}
caches:
  - {{name: cache, url: "redis://127.0.0.1:{ports['redis']}/0"}}
ports:
  - {{name: port, address: "127.0.0.1:{ports['tcp']}"}}
dns: {{nameservers: ["127.0.0.1:{dns_port}"]}}
hostnames: [{{name: app, host: app.hostile.test, records: [A]}}]
"""


def _run(tmp_path: Path, env: Path) -> dict[str, Any]:
    reports = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), f"--env={env}", f"--reports-dir={reports}",
         "-p", "no:cacheprovider", "--diagnosis", "NET1,DB1,CACHE1,NET5,AV1,AV4"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    report: dict[str, Any] = json.loads((reports / "latest.json").read_text())
    return report


def _record(report: dict[str, Any], diagnosis: str) -> dict[str, Any]:
    found = [r for r in report["checks"] if r["diagnosis"] == diagnosis]
    assert len(found) == 1, [r["id"] for r in report["checks"]]
    return found[0]


def _facts(record: dict[str, Any]) -> dict[str, Any]:
    facts = record.get("facts") or {}
    assert isinstance(facts, dict), record
    return facts


@pytest.mark.parametrize("kind", list(LISTENERS))
def test_checks_name_the_kind_end_to_end(tmp_path: Path, stack: ExitStack, kind: str) -> None:
    env = tmp_path / "env.yaml"
    env.write_text(_environment(kind, stack))
    report = _run(tmp_path, env)
    for diagnosis in ("AV1", "NET5", "DB1", "CACHE1"):
        record = _record(report, diagnosis)
        assert record["outcome"] == "failed", (diagnosis, record)
        assert _facts(record).get("failure_kind") == kind, (diagnosis, record)
        if not (kind == "timeout" and diagnosis in ("AV1", "NET5")):  # those name the deadline instead
            assert SENTENCES[kind] in record["observed"], (diagnosis, record["observed"])
    net1 = _record(report, "NET1")
    assert net1["outcome"] == "failed", net1
    assert _facts(net1).get("failure_kind") == ("refused" if kind == "reset" else kind), net1
    if kind == "protocol":
        assert NOT_DNS_SENTENCE in net1["observed"], net1["observed"]
    av4 = _record(report, "AV4")
    assert av4["outcome"] == ("failed" if kind == "refused" else "passed"), av4
    if kind == "refused":
        assert _facts(av4).get("failure_kind") == "refused", av4


# --- the new listeners, from a raw socket ---------------------------------------------------------


def test_close_listener_closes_before_a_byte() -> None:
    with CloseListener() as server, socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        try:
            assert sock.recv(1) == b""
        except ConnectionResetError:
            pass
    assert not server._thread.is_alive()


@pytest.mark.parametrize("payload", [NOT_DNS, MALFORMED_DNS])
def test_garbage_dns_server_answers_what_is_not_dns(payload: str) -> None:
    query = dns.message.make_query("app.hostile.test", "A")
    with GarbageDnsServer(payload) as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(query.to_wire(), ("127.0.0.1", server.port))
        answer, _ = sock.recvfrom(65535)
        with pytest.raises(dns.exception.FormError):
            dns.message.from_wire(answer)
        assert server.queries == 1
    assert not server.running
