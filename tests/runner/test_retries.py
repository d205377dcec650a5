"""Retries (healthsuite.probes.retry, `retries:`): a transport failure is tried again inside the shared
exchange, so every check that reads it sees the same attempts; an answer is never tried again; no
attempt or wait goes past the run's deadline. Real loopback servers (testing.hostile.FlakyListener)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthsuite.environment.loader import load_environment
from healthsuite.environment.problems import EnvironmentFileError
from healthsuite.model.retries import RetryPolicy
from healthsuite.probes import deadline
from healthsuite.probes.errors import ProbeError
from healthsuite.probes.retry import attempted, next_wait, transport_failure
from healthsuite.probes.session import ProbeSession
from healthsuite.testing.hostile import FlakyListener, SilentListener, http_answer
from healthsuite.testing.ports import free_port


def _session(tmp_path: Path, url: str, retries: str, *, timeout_s: float = 2.0, extra: str = "") -> ProbeSession:
    path = tmp_path / "env.yaml"
    path.write_text(f"name: retrying\nkind: test\ntimeouts: {{http_s: {timeout_s}}}\nretries: {retries}\n"
                    f"pages:\n  - {{name: home, url: \"{url}\"{extra}}}\n")
    return ProbeSession(load_environment(path, {}))


@pytest.fixture
def flaky() -> Iterator[FlakyListener]:
    with FlakyListener(failures=1, fault="reset") as server:
        yield server


def test_a_reset_is_retried_once_for_every_check_that_reads_the_exchange(tmp_path: Path, flaky: FlakyListener) -> None:
    probes = _session(tmp_path, f"http://127.0.0.1:{flaky.port}/", "{attempts: 3, backoff_s: 0.01}")
    target = probes.env.model.pages[0]
    try:
        probes.start_reading()  # one check (AV1) reads it ...
        first = probes.http(target)
        read_by_first = probes.stop_reading()
        probes.start_reading()  # ... and another (AV3) reads the same exchange
        second = probes.http(target)
        read_by_second = probes.stop_reading()
    finally:
        probes.close()
    assert first is second and first.status == 200
    assert (flaky.connections, flaky.requests) == (2, 1)  # two attempts at the server, one answer
    assert [(a.attempt, a.outcome) for a in first.attempts] == [(1, "reset"), (2, "answered")]
    assert "connection reset" in first.attempts[0].error and first.attempts[1].waited_s == 0.01
    assert sum(probes.cache.runs.values()) == 1  # one exchange
    assert read_by_first == read_by_second == [(f"GET http://127.0.0.1:{flaky.port}/", first.attempts)]


@pytest.mark.parametrize("status", [500, 503])
def test_an_answer_is_never_retried(tmp_path: Path, status: int) -> None:
    with FlakyListener(failures=0, answer=http_answer(status)) as server:
        probes = _session(tmp_path, f"http://127.0.0.1:{server.port}/", "{attempts: 5, backoff_s: 0.01}")
        try:
            seen = probes.http(probes.env.model.pages[0])
        finally:
            probes.close()
        assert seen.status == status and seen.attempts == ()
        assert (server.connections, server.requests) == (1, 1)


def test_a_hung_server_is_retried_after_its_timeout(tmp_path: Path) -> None:
    with FlakyListener(failures=1, fault="silent") as server:
        probes = _session(tmp_path, f"http://127.0.0.1:{server.port}/", "{attempts: 2, backoff_s: 0.01}",
                          timeout_s=0.5)
        try:
            seen = probes.http(probes.env.model.pages[0])
        finally:
            probes.close()
        assert seen.status == 200 and [a.outcome for a in seen.attempts] == ["timeout", "answered"]
        assert seen.attempts[0].duration_s >= 0.45  # the first attempt had its own whole timeout
        assert server.connections == 2


def test_the_default_is_one_attempt_and_a_target_overrides_the_file(tmp_path: Path, flaky: FlakyListener) -> None:
    url = f"http://127.0.0.1:{flaky.port}/"
    probes = _session(tmp_path, url, "{}")
    try:
        seen = probes.http(probes.env.model.pages[0])
    finally:
        probes.close()
    assert seen.error is not None and seen.error.kind == "reset" and seen.attempts == ()
    override = _session(tmp_path, url, "{attempts: 1}", extra=", retries: {attempts: 2, backoff_s: 0}")
    try:
        assert override.http(override.env.model.pages[0]).status == 200
    finally:
        override.close()


def test_by_diagnosis_gives_a_shared_exchange_the_most_attempts_of_its_readers(tmp_path: Path) -> None:
    probes = _session(tmp_path, "http://127.0.0.1:9/", "{attempts: 1, by_diagnosis: {AV3: {attempts: 3}}}")
    page = probes.env.model.pages[0]
    assert probes.retry_policy(page).attempts == 1
    probes.note_reader(page, "AV1")
    assert probes.retry_policy(page).attempts == 1
    probes.note_reader(page, "AV3")
    assert probes.retry_policy(page).attempts == 3


def test_no_attempt_starts_and_no_wait_reaches_past_the_run_deadline() -> None:
    policy = RetryPolicy(attempts=4, backoff_s=1.0, backoff="exponential")
    assert [policy.delay_before(n) for n in (2, 3, 4)] == [1.0, 2.0, 4.0]
    assert [RetryPolicy(attempts=4, backoff_s=0.5, backoff="linear").delay_before(n) for n in (2, 3, 4)] == [
        0.5, 1.0, 1.5]
    assert next_wait(policy, 2, now=100.0, run_deadline_at=None) == 1.0
    assert next_wait(policy, 3, now=100.0, run_deadline_at=101.5) is None  # a 2 s wait would pass it
    assert next_wait(policy, 5, now=100.0, run_deadline_at=None) is None  # attempts used up
    # with the clock the only thing simulated: a reset each time, the run's deadline 1.5 s away
    clock = [0.0]
    waits: list[float] = []
    reset = ProbeError("reset", "http", "127.0.0.1:1", "Connection reset by peer")
    deadline.set_run_deadline(deadline.RunDeadline(at=time.monotonic() + 1.5, seconds=1.5, source="test"))
    try:
        offset = time.monotonic()
        seen, attempts = attempted(lambda: reset, lambda error: error, policy,
                                   clock=lambda: offset + clock[0],
                                   sleep=lambda s: (waits.append(s), clock.__setitem__(0, clock[0] + s)))
    finally:
        deadline.set_run_deadline(None)
    assert seen is reset and waits == [1.0] and [a.attempt for a in attempts] == [1, 2]


@pytest.mark.parametrize(("kind", "detail", "retried"), [
    ("reset", "Connection reset by peer", True),
    ("refused", "Connection refused", True),
    ("timeout", "timed out", True),
    ("tls", "EOF occurred in violation of protocol", True),
    ("tls", "certificate verify failed: certificate has expired", False),
    ("dns", "SERVFAIL from 127.0.0.1:53", True),
    ("dns", "NXDOMAIN: the name does not exist", False),
    ("protocol", "illegal status line", False),
    ("auth_failed", "password authentication failed", False),
])
def test_only_transport_failures_are_retried(kind: str, detail: str, retried: bool) -> None:
    assert transport_failure(ProbeError(kind, "http", "host:443", detail)) is retried


@pytest.mark.parametrize(("retries", "said"), [
    ("{attempts: 9}", "line 3: retries.attempts"),
    ("{attempts: 0}", "line 3: retries.attempts"),
    ("{backoff: random}", "line 3: retries.backoff"),
    ("{backoff_s: -1}", "line 3: retries.backoff_s"),
    ("{by_diagnosis: {AVV1: {attempts: 2}}}", "unknown diagnosis 'AVV1'"),
    ("{tries: 2}", "line 3: retries.tries"),
])
def test_bad_values_are_located_errors(tmp_path: Path, retries: str, said: str) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(f"name: t\nkind: test\nretries: {retries}\n")
    with pytest.raises(EnvironmentFileError) as error:
        load_environment(path, {})
    assert said in str(error.value) and "env.yaml" in str(error.value)


def _file(tmp_path: Path, body: str) -> ProbeSession:
    path = tmp_path / "env.yaml"
    path.write_text(f"name: retrying\nkind: test\nretries: {{attempts: 2, backoff_s: 0.01}}\n{body}")
    return ProbeSession(load_environment(path, {}))


def test_tcp_and_tls_probes_retry_their_transport_failures_too(tmp_path: Path) -> None:
    closed = free_port()
    with SilentListener() as silent:
        probes = _file(tmp_path, f"ports:\n  - {{name: api, address: \"127.0.0.1:{closed}\"}}\n"
                                 f"tls:\n  - {{name: www, url: \"https://127.0.0.1:{silent.port}/\", timeout_s: 0.3}}\n")
        try:
            probes.start_reading()
            port = probes.tcp(probes.env.model.ports[0])
            handshake = probes.tls(probes.env.model.tls[0])
            read = probes.stop_reading()
        finally:
            probes.close()
        assert silent.connections == 2
    assert [a.outcome for a in port.attempts] == ["refused", "refused"]
    assert [a.outcome for a in handshake.attempts] == ["timeout", "timeout"]
    assert [what for what, _ in read] == [f"TCP 127.0.0.1:{closed}", f"TLS 127.0.0.1:{silent.port} (127.0.0.1)"]
