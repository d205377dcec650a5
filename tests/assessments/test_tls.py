"""healthsuite.assessments.tls on its own: severities one level below, protocol versions and
an expired extra certificate (NET5, NET6)."""

from __future__ import annotations

from datetime import datetime

from healthsuite.assessments.tls import certificate, one_level_below, protocol
from healthsuite.probes.chain import CertificateInfo
from healthsuite.probes.tls import TlsObservation
from tests.checks.support import DAY, LOOPBACK, NAME, now


def test_NET5_NET6_severity_one_level_below_and_protocol_versions() -> None:
    assert [one_level_below(s) for s in ("critical", "high", "medium", "low")] == ["high", "medium", "low", "low"]
    old = TlsObservation(host=LOOPBACK, port=443, server_name=NAME, protocol="TLSv1", cipher="AES128-SHA")
    assert not protocol(old, 1.2).ok and protocol(old, 1.0).ok


def test_NET5_certificate_names_an_expired_extra_certificate_even_when_the_chain_verifies() -> None:
    """A server still sending an expired cross-signed root: the path avoids it, old clients do not."""
    t = now()

    def info(position: str, subject: str, not_after: datetime) -> CertificateInfo:
        return CertificateInfo(position, subject, "CN=old root", (), t - 400 * DAY, not_after, False, "00")

    chain = (info("leaf", f"CN={NAME}", t + 60 * DAY), info("intermediate 1", "CN=cross-signed root", t - 2 * DAY))
    obs = TlsObservation(host=LOOPBACK, port=443, server_name=NAME, protocol="TLSv1.3", chain=chain, checked_at=t)
    finding = certificate(obs, warning_days=30, critical_days=7, severity="critical")
    assert not finding.ok and finding.severity == "critical"
    assert finding.observed.startswith("intermediate 1 certificate (subject CN=cross-signed root, issuer CN=old root, no SANs) expired 2.0 days ago")
    assert "verified through another path, but the server still sends it" in finding.observed
    assert "remove it from the chain" in finding.meaning and "renewing the leaf" not in finding.meaning
    warning = certificate(obs, warning_days=30, critical_days=7, severity="low")
    assert warning.severity == "low"  # expired: the check's own severity, whatever it is
