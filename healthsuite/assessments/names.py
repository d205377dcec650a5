"""Judge DNS observations (NET1-NET4): what `dig <host>` would have told a person, and what it means.

Each function returns a Finding whose `observed` names the outcome (NXDOMAIN, SERVFAIL, no answer,
timeout) or the answers, and the resolver asked; `facts` carry every query's outcome, values and time.
"""

from __future__ import annotations

import ipaddress

from ..model import providers as provider_ranges
from ..model.environment import Hostname
from ..probes.resolver import DnsAnswer, DnsObservation
from .failure import Finding

# What each non-answer means, and its likely causes: the sentence a person reads first at 3 a.m.
_MEANING: dict[str, str] = {
    "NXDOMAIN": "NXDOMAIN: the name does not exist in DNS: the record was deleted, the domain expired, or the zone "
    "is served by other nameservers than the ones the registrar lists",
    "SERVFAIL": "SERVFAIL: the resolver could not get an answer: DNSSEC validation failed, or the domain's "
    "authoritative nameservers are broken or unreachable from the resolver",
    "REFUSED": "REFUSED: the resolver refuses to answer this client or this name: an access list on the resolver, or "
    "the configured nameserver is authoritative-only and does not resolve other names",
    "no answer": "no answer: the name exists but has no record of the asked type: the address record was deleted or "
    "replaced, or the name is a CNAME whose target has no address",
    "timeout": "timeout: the resolver did not answer in time: it is down, unreachable from here (UDP/TCP port 53 "
    "blocked), or overloaded",
    "not DNS": "not DNS: the server at the resolver's address answered, but not in the DNS protocol: another "
    "service listens on that port, or something between mangles the replies",
    "error": "the query could not be made: the resolver configuration is wrong or unusable",
}
_CAUSES: dict[str, tuple[str, ...]] = {
    "NXDOMAIN": (
        "The record was deleted or renamed at the DNS provider (or a CNAME now points at a deleted name).",
        "The domain registration expired (`whois <domain>` shows the expiry date and status).",
        "The registrar delegates the domain to other nameservers than the ones holding the zone (`dig NS <domain>`).",
    ),
    "SERVFAIL": (
        "DNSSEC validation fails: expired signatures, or a DS record at the registrar that no longer matches the "
        "zone (after a DNS provider change); `dig +cd <host>` answers when DNSSEC is the cause.",
        "The domain's authoritative nameservers are down, lame or unreachable from the resolver.",
    ),
    "REFUSED": (
        "The resolver's access list does not include the machine running the checks.",
        "dns.nameservers names an authoritative-only server instead of a recursive resolver.",
    ),
    "no answer": (
        "The address record was deleted while other records of the name (TXT, MX) remain.",
        "The name is a CNAME whose target has no address record of this type.",
    ),
    "timeout": (
        "The resolver is down, or a firewall drops port 53 between this machine and it.",
        "The resolver is overloaded, or waits on slow or dead authoritative nameservers.",
    ),
    "not DNS": (
        "dns.nameservers names the wrong port: another service (not a DNS server) answers there.",
        "A firewall, proxy or broken DNS forwarder rewrites or truncates the replies.",
    ),
    "error": (
        "An entry of dns.nameservers is not a resolver's IP address (or its port is wrong).",
        "This machine has no usable resolver configuration (/etc/resolv.conf without nameservers).",
    ),
}


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _types(answers: list[DnsAnswer]) -> str:
    return " or ".join(a.rdtype for a in answers) or "A or AAAA"


def _dig(obs: DnsObservation, rdtype: str) -> str:
    """The command a person would type to see the same thing."""
    server = obs.resolver
    if server.startswith("system resolver") or "," in server:
        return f"`dig {obs.host} {rdtype}`"
    host, _, port = server.rpartition(":")
    host = host.strip("[]")
    return f"`dig @{host}{'' if port == '53' else ' -p ' + port} {obs.host} {rdtype}`"


def _failure_text(obs: DnsObservation, answers: list[DnsAnswer]) -> str:
    """`NXDOMAIN (A, AAAA)`, `timeout (A): no answer within 3 s`: grouped by outcome, as every check says it."""
    return obs.failure_text(answers)


def _explain(answers: list[DnsAnswer]) -> tuple[str, tuple[str, ...]]:
    """Meaning and causes of the non-answers, in the order they occur."""
    names = list(dict.fromkeys(a.outcome_name for a in answers if not a.ok))
    meaning = " ".join(
        _MEANING.get(n, f"{n}: the resolver answered an error instead of records ({_MEANING['SERVFAIL']})") + "."
        for n in names
    )
    causes: list[str] = []
    for name in names:
        causes += _CAUSES.get(name, _CAUSES["SERVFAIL"])
    if any("is a CNAME to" in a.detail for a in answers if a.outcome == "nxdomain"):
        causes.insert(0, "The name is a CNAME to a name that does not exist (a dangling CNAME): its target was "
                      "deleted or renamed.")
    return meaning, tuple(dict.fromkeys(causes))


def _via(obs: DnsObservation) -> str:
    return f"resolver {obs.resolver}" if not obs.resolver.startswith("system") else obs.resolver


def _asked(obs: DnsObservation) -> str:
    """The suffix of every observed line: which resolver said so."""
    return f" [{_via(obs)}]"


# --- NET1 -----------------------------------------------------------------------------------------


def resolves(obs: DnsObservation) -> Finding:
    """NET1: at least one queried address type answers; NXDOMAIN/SERVFAIL/timeout fail, each named."""
    answers = obs.address_answers()
    ok = any(a.ok for a in answers)
    expected = f"an {_types(answers)} answer for {obs.host} from {_via(obs)}"
    if ok:
        shown = "; ".join(a.summary() for a in answers)
        return Finding(
            ok=True,
            observed=f"{obs.host}: {shown} in {_ms(obs.elapsed_s)}" + _asked(obs),
            expected=expected,
            facts=obs.facts(),
        )
    meaning, causes = _explain(answers)
    kind = next((a.failure_kind for a in answers if a.failure_kind), "")
    return Finding(
        ok=False,
        observed=f"{obs.host}: {_failure_text(obs, answers)}" + _asked(obs),
        expected=expected,
        meaning=meaning,
        causes=causes,
        remediation=(
            ("Fix dns.nameservers in the environment file: resolver IP addresses, as ip, ip:port or [v6]:port.",)
            if all(a.outcome == "error" for a in answers)
            else (f"See what the resolver says: {_dig(obs, answers[0].rdtype if answers else 'A')}.",)
        ),
        facts={**obs.facts(), **({"failure_kind": kind, "address": obs.resolver} if kind else {})},
    )


# --- NET2 -----------------------------------------------------------------------------------------


def _describe_entries(entries: list[str], ranges: dict[str, list[str]]) -> str:
    shown = []
    for entry in entries:
        if entry in ranges:
            listed = ranges[entry]
            sample = ", ".join(listed[:4]) + (f", ... {len(listed) - 4} more" if len(listed) > 4 else "")
            shown.append(f"{entry} ({sample})")
        else:
            shown.append(entry)
    return " or ".join(shown)


def addresses_in(target: Hostname, obs: DnsObservation, providers: dict[str, list[str]]) -> Finding:
    """NET2: every address lies in one of target.expect_in (provider names expand through `providers`)."""
    networks = provider_ranges.networks(target.expect_in, providers)
    wanted = _describe_entries(target.expect_in, providers)
    expected = f"every address of {obs.host} in {wanted}"
    facts: dict[str, object] = {
        **obs.facts(),
        "expect_in": list(target.expect_in),
        "expected_ranges": [f"{label}: {net}" for label, net in networks],
    }
    answers = obs.address_answers()
    addresses = obs.addresses()
    if not addresses:
        meaning, why = _explain(answers)
        return Finding(
            ok=False,
            observed=f"{obs.host} has no address to compare: {_failure_text(obs, answers)}" + _asked(obs),
            expected=expected,
            meaning="the name does not resolve, so where it points cannot be checked (NET1 fails too). " + meaning,
            causes=why,
            facts=facts,
        )
    inside: dict[str, str] = {}
    outside: list[str] = []
    for address in addresses:
        ip = ipaddress.ip_address(address)
        label = next((label for label, net in networks if ip in net), None)
        if label is None:
            outside.append(address)
        else:
            inside[address] = label
    facts.update(outside=outside, inside=inside)
    answered = "; ".join(a.summary() for a in answers if a.ok)
    if not outside:
        labels = ", ".join(dict.fromkeys(inside.values()))
        return Finding(
            ok=True,
            observed=f"{obs.host}: {answered}, all in {labels}" + _asked(obs),
            expected=expected,
            facts=facts,
        )
    observed = f"{obs.host}: {', '.join(outside)} outside {' and '.join(target.expect_in)}"
    if inside:
        observed += f"; inside: {', '.join(f'{a} ({label})' for a, label in inside.items())}"
    observed += f" ({answered})" + _asked(obs)
    causes: list[str] = []
    for provider in (e for e in target.expect_in if e in providers):
        causes.append(
            f"The record is no longer served through {provider}: its proxy is off for this name (Cloudflare: "
            f"'DNS only', grey cloud), so the origin's own address is published and {provider} is bypassed."
        )
    if any(ipaddress.ip_address(a).is_private or ipaddress.ip_address(a).is_loopback for a in outside):
        causes.append("The answer is a private or loopback address: split-horizon DNS, or an internal record "
                      "published by mistake.")
    return Finding(
        ok=False,
        observed=observed,
        expected=expected,
        meaning=(
            f"{obs.host} resolves, but not where it should: clients reach {', '.join(outside)}, which is not in "
            f"{' or '.join(target.expect_in)}. Traffic bypasses the expected provider (its TLS, caching and "
            "protection) or goes to a server nobody meant to publish."
        ),
        causes=tuple(causes),
        remediation=(f"Compare {_dig(obs, 'A')} (and AAAA) with the expected ranges.",),
        facts=facts,
    )


# --- NET3 -----------------------------------------------------------------------------------------


def record_shape(obs: DnsObservation, cname: str) -> Finding:
    """NET3: the name is a CNAME to `cname` (an A record in its place fails, naming what was found)."""
    want = _norm(cname)
    expected = f"{obs.host} CNAME {want}"
    query = obs.answers.get("CNAME")
    facts: dict[str, object] = {**obs.facts(), "cname_expected": want}
    if query is None:  # not asked: judge from the chain the address queries followed
        chains = [a.cname_chain for a in obs.address_answers() if a.cname_chain]
        query = (
            DnsAnswer("CNAME", "answer", (chains[0][0],)) if chains else DnsAnswer("CNAME", "no_answer")
        )
    facts["cname_found"] = list(query.values)
    if query.ok:
        if want in query.values:
            return Finding(
                ok=True,
                observed=f"{obs.host} CNAME {', '.join(query.values)}" + _asked(obs),
                expected=expected,
                facts=facts,
            )
        return Finding(
            ok=False,
            observed=f"{obs.host} is a CNAME to {', '.join(query.values)}, not to {want}" + _asked(obs),
            expected=expected,
            meaning=(
                f"{obs.host} is an alias of another name than declared: it follows "
                f"{', '.join(query.values)}'s addresses, not {want}'s."
            ),
            causes=("The CNAME was edited by hand, or still points at a previous host or provider.",),
            remediation=(f"Check with {_dig(obs, 'CNAME')}, then point the CNAME at {want}.",),
            facts=facts,
        )
    if query.outcome == "no_answer":
        found = [a for a in obs.address_answers() if a.ok and not a.cname_chain]
        if found:
            records = "; ".join(a.summary() for a in found)
            return Finding(
                ok=False,
                observed=f"{obs.host} has {records} instead of a CNAME to {want}" + _asked(obs),
                expected=expected,
                meaning=(
                    f"{obs.host} is an address record, not an alias of {want}: when {want}'s addresses change "
                    f"(a new deployment or provider address), {obs.host} keeps the old ones and breaks."
                ),
                causes=(f"{obs.host} was set up (or recreated) as an A/AAAA record instead of a CNAME to {want}.",),
                remediation=(f"Replace the A/AAAA record of {obs.host} with a CNAME to {want}.",),
                facts=facts,
            )
        return Finding(
            ok=False,
            observed=f"{obs.host} has no CNAME (and no address record)" + _asked(obs),
            expected=expected,
            meaning=f"{obs.host} exists but is neither an alias of {want} nor an address.",
            causes=("The CNAME was deleted while other records of the name remain.",),
            facts=facts,
        )
    meaning, causes = _explain([query])
    return Finding(
        ok=False,
        observed=f"{obs.host}: the CNAME query got {_failure_text(obs, [query])}" + _asked(obs),
        expected=expected,
        meaning=meaning,
        causes=causes,
        facts=facts,
    )


# --- NET4 -----------------------------------------------------------------------------------------


def resolution_time(obs: DnsObservation, max_ms: float) -> Finding:
    """NET4: resolution (the slowest queried type) takes under max_ms; a timeout fails."""
    answers = list(obs.answers.values())
    slowest = obs.slowest()
    slowest_ms = round(slowest.elapsed_s * 1000, 1) if slowest else 0.0
    per_type = ", ".join(
        f"{a.rdtype} {_ms(a.elapsed_s)}" + ("" if a.outcome in ("answer", "no_answer") else f" ({a.outcome_name})")
        for a in answers
    )
    expected = f"every query for {obs.host} answered in under {max_ms:g} ms"
    facts: dict[str, object] = {
        **obs.facts(),
        "max_ms": max_ms,
        "slowest_ms": slowest_ms,
        "slowest_type": slowest.rdtype if slowest else None,
    }
    unanswered = [a for a in answers if a.outcome in ("timeout", "error")]
    if unanswered:
        meaning, why = _explain(unanswered)
        return Finding(
            ok=False,
            observed=f"{obs.host}: {_failure_text(obs, unanswered)} ({per_type})" + _asked(obs),
            expected=expected,
            meaning="resolution time cannot be measured: " + meaning,
            causes=why,
            facts=facts,
        )
    assert slowest is not None
    observed = f"{obs.host}: slowest {slowest.rdtype} {_ms(slowest.elapsed_s)} ({per_type})" + _asked(obs)
    slow = [a for a in answers if a.elapsed_s * 1000 >= max_ms]
    if not slow:
        return Finding(ok=True, observed=observed, expected=expected, facts=facts)
    causes: list[str] = []
    if len(slow) < len(answers):
        fast = [a for a in answers if a not in slow]
        causes.append(
            f"Only {', '.join(a.rdtype for a in slow)} is slow ({', '.join(a.rdtype for a in fast)} is fast): the "
            "resolver or the authoritative side handles that type badly, and clients asking A and AAAA together "
            "wait for the slower one."
        )
    else:
        causes.append(
            "Every type is slow: the resolver itself is slow, overloaded or far away, or it waits on slow "
            f"authoritative nameservers (compare {_dig(obs, slowest.rdtype)} with another resolver)."
        )
    return Finding(
        ok=False,
        observed=observed,
        expected=expected,
        meaning=(
            f"resolving {obs.host} takes {_ms(slowest.elapsed_s)}: every new connection to it waits that long before "
            "it starts (browsers, API clients, and server-to-server calls that do not cache DNS)."
        ),
        causes=tuple(causes),
        remediation=(f"Time it again with {_dig(obs, slowest.rdtype)} (the `Query time` line).",),
        facts=facts,
    )
