"""The demo's `slow` switch (a degraded platform, not a diagnosis): every HTTP answer of the app, its
stand-ins for external APIs and its plain-HTTP port is SLOW_HTTP_DELAY_S late, every DNS answer
SLOW_DNS_DELAY_S; `heal` undoes it. Only lower bounds on time are asserted (the delays injected)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import dns.message
import dns.query
import httpx
import pytest

from healthsuite.demo import __main__ as demo_cli
from healthsuite.demo.faults.registry import FAULTS, MASKING_FAULTS, SLOW_DNS_DELAY_S, SLOW_HTTP_DELAY_S, SWITCHES
from healthsuite.demo.stack import DemoStack

# asyncio and threading timers may fire a hair before their deadline (clock resolution)
SLACK_S = 0.05


def _timed(call: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _probes(stack: DemoStack) -> dict[str, Callable[[], object]]:
    """One exchange with each kind of server of the stack: what the switch must delay."""
    assert stack.app is not None and stack.http is not None and stack.dns is not None
    ca = ssl.create_default_context(cafile=str(stack.directory / "ca.pem"))
    app, plain, dns_port = stack.app.url, stack.http.url, stack.dns.port

    def https(path: str) -> Callable[[], object]:
        return lambda: httpx.get(app + path, verify=ca, timeout=30).status_code

    def dns_query() -> object:
        answer = dns.query.udp(dns.message.make_query("booking.demo.test", "A"), "127.0.0.1", port=dns_port, timeout=30)
        return [rr.to_text() for rrset in answer.answer for rr in rrset]

    return {
        "home": https("/"),
        "health": https("/api/health"),
        "paystack stand-in": https("/__paystack/"),
        "OIDC stand-in": https("/__oidc/.well-known/openid-configuration"),
        "status API stand-in": https("/__demo/status.json"),
        "plain HTTP": lambda: httpx.get(plain + "/", timeout=30).status_code,
        "dns": dns_query,
    }


def _run_all(stack: DemoStack) -> dict[str, tuple[float, object]]:
    probes = _probes(stack)
    with ThreadPoolExecutor(len(probes)) as pool:  # concurrently: the test costs one delay, not their sum
        futures = {name: pool.submit(_timed, call) for name, call in probes.items()}
        return {name: future.result() for name, future in futures.items()}


def test_slow_is_a_switch_not_a_diagnosis_fault() -> None:
    assert "slow" in SWITCHES
    assert "slow" not in FAULTS and "SLOW" not in FAULTS  # so `--break all` (FAULTS less MASKING) leaves it out
    assert "slow" not in MASKING_FAULTS


def test_slow_delays_every_http_and_dns_answer_and_heal_undoes_it(stack: DemoStack) -> None:
    broken = stack.break_(["slow"])
    assert broken == ["slow"]
    assert stack.faults.slow_s() == SLOW_HTTP_DELAY_S
    results = _run_all(stack)
    for name, (elapsed, _) in results.items():
        delay = SLOW_DNS_DELAY_S if name == "dns" else SLOW_HTTP_DELAY_S
        assert elapsed >= delay - SLACK_S, f"{name}: answered in {elapsed:.2f} s with the slow switch on"
    # late, but still the right answers
    assert results["home"][1] == 200 and results["paystack stand-in"][1] in (200, 401)
    assert results["plain HTTP"][1] == 301
    assert results["dns"][1] == ["127.0.0.1"]

    healed = stack.heal()
    assert "slow" in healed
    assert stack.faults.slow_s() == 0
    assert stack.dns is not None and stack.dns.faults() == {}
    after = _run_all(stack)
    assert after["home"][1] == 200 and after["dns"][1] == ["127.0.0.1"]


def test_slow_combines_with_a_fault_and_is_switched_from_the_cli(
    stack: DemoStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m healthsuite.demo break slow,AV1` reaches a running demo through its admin switch."""
    for key, value in stack.environ().items():
        monkeypatch.setenv(key, value)
    assert demo_cli.main(["break", "slow,AV1"]) == 0
    assert "AV1, slow" in capsys.readouterr().out
    assert stack.faults.slow_s() == SLOW_HTTP_DELAY_S
    assert stack.dns is not None and stack.dns.faults()["*"] == {"kind": "slow", "delay_s": SLOW_DNS_DELAY_S}
    elapsed, status = _timed(_probes(stack)["home"])
    assert status == 404 and elapsed >= SLOW_HTTP_DELAY_S - SLACK_S
    assert demo_cli.main(["heal"]) == 0
    assert "slow" in capsys.readouterr().out
    assert stack.faults.slow_s() == 0 and stack.dns.faults() == {}
