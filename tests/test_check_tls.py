"""NET5 (certificate) and NET6 (protocol, redirect) with real handshakes on loopback: the probe reports
the presented chain even when it does not verify, names each verification problem and the certificate
it concerns, and never hangs; the checks fail with the severity of the expiry window they fall in."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from cryptography.x509.oid import ExtendedKeyUsageOID

from healthsuite.assessments.certificates import certificate, one_level_below, protocol
from healthsuite.demo.certs import IssuedCert, TestCA, self_signed
from healthsuite.demo.services import GarbageListener, SilentListener, free_port
from healthsuite.demo.tls_server import PlainHttpServer, TlsServer, redirect_response
from healthsuite.probes.chain import CertificateInfo, covers
from healthsuite.probes.tls import TlsObservation, handshake

from .conftest import RunChecks

NAME = "app.demo.test"
LOOPBACK = "127.0.0.1"
DAY = timedelta(days=1)


def now() -> datetime:
    return datetime.now(UTC)


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


# --- the probe ----------------------------------------------------------------------------------------


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


def test_probe_reports_chain_positions_and_verifies_through_intermediates(pki: Pki, serve: Callable[..., TlsServer]) -> None:
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
    assert refused.verify_error.endswith(
        "its extendedKeyUsage does not allow TLS server authentication (serverAuth) (certificate CN=app.demo.test)"
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


def test_severity_one_level_below_and_protocol_versions() -> None:
    assert [one_level_below(s) for s in ("critical", "high", "medium", "low")] == ["high", "medium", "low", "low"]
    old = TlsObservation(host=LOOPBACK, port=443, server_name=NAME, protocol="TLSv1", cipher="AES128-SHA")
    assert not protocol(old, 1.2).ok and protocol(old, 1.0).ok


def test_certificate_names_an_expired_extra_certificate_even_when_the_chain_verifies() -> None:
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


# --- the checks, end to end ---------------------------------------------------------------------------


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


EnvFile = Callable[[str], Path]


def test_net5_and_net6_pass_on_a_valid_certificate_and_tls_1_3(
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


def test_net5_fails_high_inside_the_warning_window_naming_the_leaf(
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
def test_net5_fails_critical(
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


def test_net5_names_an_intermediate_that_expires_before_the_leaf(
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


def test_net5_warning_window_in_staging_is_medium(
    run_checks: RunChecks, env_file: EnvFile, pki: Pki, serve: Callable[..., TlsServer]
) -> None:
    """With NET5 overridden to high (a staging file), the warning window fails one level below: medium."""
    server = serve(pki.leaf(not_after=now() + 20 * DAY))
    staging = tls_env(server.port, ca=pki.ca_pem, extra="severity_overrides:\n  NET5: high\n")
    run = run_checks("--diagnosis", "NET5", env=env_file(staging.replace("kind: test", "kind: staging")))
    record = run.assert_outcome("NET5", "app", "failed", category="network", severity="medium")
    assert "[medium, network]" in record["message"] and "fails as high" in record["message"]


def test_net5_thresholds_move_the_windows(
    run_checks: RunChecks, env_file: EnvFile, pki: Pki, serve: Callable[..., TlsServer]
) -> None:
    server = serve(pki.leaf(not_after=now() + 20 * DAY))
    extra = "thresholds:\n  NET5: {warning_days: 14, critical_days: 3}\n"
    run = run_checks("--diagnosis", "NET5", env=env_file(tls_env(server.port, ca=pki.ca_pem, extra=extra)))
    run.assert_outcome("NET5", "app", "passed", category="network", severity="critical")


def test_net5_fails_on_a_hung_handshake_with_timeout(run_checks: RunChecks, env_file: EnvFile) -> None:
    with SilentListener() as silent:
        text = tls_env(silent.port, ca=None).replace("http_s: 3", "http_s: 0.5")
        run = run_checks("--diagnosis", "NET5", env=env_file(text))
    record = run.assert_outcome("NET5", "app", "failed", category="network", severity="critical")
    assert record["observed"].startswith("timed out:") and record["duration_s"] < 3


def test_net6_passes_on_tls_1_2_and_fails_on_tls_1_1(
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


def test_net6_checks_the_plain_http_redirect_too(
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
