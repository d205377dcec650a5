"""Network edge: DNS, TLS certificates and protocol, CORS, the reverse proxy.

What runbooks 000 §1 ("dig", "curl -I"), 003 RB5 (SSL/DNS path), 002 "SSL Certificate Issues" and
"Load Balancer Errors", and 004 "Network Issues", "SSL/HTTPS Issues", "CORS Configuration" and
"Nginx Proxy Issues" ask a person to do by hand with dig, openssl s_client and curl.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthsuite import plans
from healthsuite.assessments import edge, names, tls
from healthsuite.assessments.failure import combine
from healthsuite.checkapi import check

if TYPE_CHECKING:
    from healthsuite.checkapi import Expect
    from healthsuite.model.environment import CorsPolicy, Hostname, ProxiedPath, TlsEndpoint
    from healthsuite.probes.session import ProbeSession


@check("NET1", plan=plans.dns)
def test_hostname_resolves(hostname: Hostname, probes: ProbeSession, expect: Expect) -> None:
    expect.finding(names.resolves(probes.dns(hostname)))


@check("NET2", plan=plans.dns)
def test_hostname_points_at_expected_addresses(
    hostname_with_ranges: Hostname, probes: ProbeSession, expect: Expect
) -> None:
    ranges = expect.env.model.provider_ranges()
    expect.finding(names.addresses_in(hostname_with_ranges, probes.dns(hostname_with_ranges), ranges))


@check("NET3", plan=plans.dns)
def test_hostname_has_declared_record_shape(
    hostname_with_cname: Hostname, probes: ProbeSession, expect: Expect
) -> None:
    env = expect.env
    declared = hostname_with_cname.cname
    assert declared is not None  # the fixture yields only the hostnames that declare a cname
    cname = env.resolve(declared, env.where(hostname_with_cname, "cname"))
    expect.finding(names.record_shape(probes.dns(hostname_with_cname), cname))


@check("NET4", plan=plans.dns)
def test_hostname_resolves_quickly(hostname: Hostname, probes: ProbeSession, expect: Expect) -> None:
    limit = hostname.max_resolution_ms or expect.threshold("max_resolution_ms")
    expect.finding(names.resolution_time(probes.dns(hostname), limit))


@check("NET5", plan=plans.tls)
def test_certificate_is_valid_and_not_expiring(tls_endpoint: TlsEndpoint, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(probes.tls(tls_endpoint), expected="a TLS handshake with a valid certificate")
    expect.finding(
        tls.certificate(
            observation,
            warning_days=expect.threshold("warning_days"),
            critical_days=expect.threshold("critical_days"),
            severity=expect.severity,
            webpki_rules=bool(expect.threshold("webpki_rules")),
        )
    )


@check("NET6", plan=plans.tls_and_redirect)
def test_modern_tls_and_https_redirect(tls_endpoint: TlsEndpoint, probes: ProbeSession, expect: Expect) -> None:
    observation = expect.reached(probes.tls(tls_endpoint), expected="a TLS handshake")
    findings = [tls.protocol(observation, expect.threshold("min_tls_version"))]
    if tls_endpoint.http_redirect:
        url = probes.plain_http_url(tls_endpoint)
        findings.append(edge.https_redirect(url, probes.fetch_url(url), observation.server_name, expect.catalogue))
    expect.finding(combine(findings))


@check("NET7", plan=plans.cors)
def test_cors_preflight_allows_only_declared_origins(
    cors_policy: CorsPolicy, probes: ProbeSession, expect: Expect
) -> None:
    allowed = {origin: probes.cors_preflight(cors_policy, origin) for origin in probes.cors_origins(cors_policy)}
    foreign = probes.cors_preflight(cors_policy, cors_policy.foreign_origin)
    expect.finding(edge.cors(cors_policy, allowed, foreign))


@check("NET8", plan=plans.get)
def test_reverse_proxy_reaches_upstream(proxied_path: ProxiedPath, probes: ProbeSession, expect: Expect) -> None:
    response = expect.reached(probes.http(proxied_path), expected="the proxy answers without 502/504")
    expect.finding(edge.proxy_upstream(response, expect.catalogue, upstream=probes.upstream(proxied_path)))
