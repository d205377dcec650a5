"""A certificate factory for tests and the demo: a root CA, intermediates, leaves and self-signed
certificates with chosen names and validity, written as PEM files a server loads.

    ca = TestCA.create()
    leaf = ca.issue("127.0.0.1", "app.demo.test", not_after=now + timedelta(days=5))
    chain_path, key_path = leaf.write(directory)        # leaf + intermediates, and the key
    ca.write(directory / "ca.pem")                       # what a client trusts (http.ca_bundle)
    inter = ca.intermediate(not_after=now + timedelta(days=3))
    inter.issue("app.demo.test")                         # its chain file carries the intermediate
    self_signed("app.demo.test")

Every certificate is WebPKI-conformant (X.509 v3, positive serial, basicConstraints critical,
keyUsage critical, extendedKeyUsage serverAuth on leaves, subject/authority key identifiers, SAN),
so `cryptography`'s strict verifier accepts a valid chain and rejects only what a test breaks on
purpose. Keys are ECDSA P-256 (fast to make): a server that swaps certificates with
`SSLContext.load_cert_chain` on a live context replaces the certificate of the same key type only,
so keep every certificate of one server on one key type.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["IssuedCert", "TestCA", "self_signed", "general_name"]

_DEFAULT_LEAF_DAYS = 90
_DEFAULT_CA_DAYS = 3650
_BACKDATE = timedelta(days=1)  # default not_before: a day ago, so clock skew never makes it "not yet valid"


def _now() -> datetime:
    return datetime.now(UTC)


def _validity(not_before: datetime | None, not_after: datetime | None, days: int) -> tuple[datetime, datetime]:
    """Defaults: valid from a day ago (or a day before an earlier not_after) for `days` days."""
    now = _now()
    after = not_after or now + timedelta(days=days)
    return not_before or min(now - _BACKDATE, after - _BACKDATE), after


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def general_name(name: str) -> x509.GeneralName:
    """An IP literal becomes an IPAddress SAN, anything else a DNSName."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ski(key: ec.EllipticCurvePrivateKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


@dataclass(frozen=True)
class IssuedCert:
    """A server certificate, its key and the intermediates a server sends after it (never the root)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    intermediates: tuple[x509.Certificate, ...] = ()

    @property
    def cert_pem(self) -> bytes:
        return _pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self.key)

    @property
    def chain_pem(self) -> bytes:
        """The certificate then its intermediates: what nginx calls fullchain.pem."""
        return b"".join(_pem(c) for c in (self.cert, *self.intermediates))

    def write(self, directory: Path, name: str = "server") -> tuple[Path, Path]:
        """Write `<name>-chain.pem` and `<name>-key.pem` (mode 600) into `directory`; return both paths."""
        directory.mkdir(parents=True, exist_ok=True)
        chain_path = directory / f"{name}-chain.pem"
        key_path = directory / f"{name}-key.pem"
        chain_path.write_bytes(self.chain_pem)
        key_path.touch(mode=0o600)
        key_path.chmod(0o600)
        key_path.write_bytes(self.key_pem)
        return chain_path, key_path


def _leaf(
    names: tuple[str, ...],
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: datetime | None,
    not_after: datetime | None,
    common_name: str | None,
    usages: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.SERVER_AUTH,),
) -> x509.Certificate:
    if not names:
        raise ValueError("a server certificate needs at least one name (DNS name or IP address)")
    not_before, not_after = _validity(not_before, not_after, _DEFAULT_LEAF_DAYS)
    subject = _name(common_name or names[0])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        .add_extension(x509.SubjectAlternativeName([general_name(n) for n in names]), critical=False)
        .add_extension(_ski(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class TestCA:
    """A certificate authority: the root (`TestCA.create()`) or an intermediate (`ca.intermediate()`)."""

    __test__ = False  # not a pytest test class, though its name starts with Test

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    # what a server sends after the leaves this CA issues: this intermediate and those above it, nearest
    # first; () for a root (clients have the root already)
    chain: tuple[x509.Certificate, ...] = ()

    @classmethod
    def create(
        cls,
        name: str = "healthsuite test root CA",
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> TestCA:
        not_before, not_after = _validity(not_before, not_after, _DEFAULT_CA_DAYS)
        key = _new_key()
        subject = _name(name, "healthsuite tests")
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(_ski(key), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @property
    def is_root(self) -> bool:
        return not self.chain

    @property
    def cert_pem(self) -> bytes:
        """This CA's certificate: for a root, what a client trusts (http.ca_bundle)."""
        return _pem(self.cert)

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    def write(self, path: Path) -> Path:
        """Write this CA's certificate (PEM) to `path`, e.g. a ca_bundle."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.cert_pem)
        return path

    def intermediate(
        self,
        name: str | None = None,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> TestCA:
        """A CA signed by this one; leaves it issues are served with it (and any above it) in their chain."""
        not_before, not_after = _validity(not_before, not_after, _DEFAULT_CA_DAYS // 2)
        key = _new_key()
        depth = len(self.chain) + 1
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name or f"healthsuite test intermediate CA {depth}", "healthsuite tests"))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(_ski(key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return TestCA(cert, key, (cert, *self.chain))

    def issue(
        self,
        *names: str,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        common_name: str | None = None,
        usages: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.SERVER_AUTH,),
    ) -> IssuedCert:
        """A server certificate for `names` (DNS names or IP literals, the first is the CN); `usages` are its
        extended key usages (serverAuth; a client-only certificate to test a misuse)."""
        key = _new_key()
        cert = _leaf(names, key, self.cert.subject, self.key, not_before, not_after, common_name, usages)
        return IssuedCert(cert, key, self.chain)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def self_signed(
    *names: str,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    common_name: str | None = None,
) -> IssuedCert:
    """A leaf signed by its own key (what `openssl req -x509` makes): valid names, trusted by nobody."""
    key = _new_key()
    subject = _name(common_name or (names[0] if names else "self-signed"))
    cert = _leaf(names, key, subject, key, not_before, not_after, common_name)
    return IssuedCert(cert, key)
