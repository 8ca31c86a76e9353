"""A development PKI for mutual TLS: one local CA, a server certificate, partner client certificates
(and the certificate credit reports are signed with).

This is for development and tests only. In production the gateway does not issue partner
certificates: each partner institution presents a certificate from its own CA, and the
certificate's fingerprint (``x5t#S256``) is registered with the partner, so an access token
can be bound to it (RFC 8705 section 3).

Layout under one directory (the gateway uses ``keys/pki/``)::

    ca.pem                       self-signed CA (CA:true, pathlen 0)
    ca-key.pem                   its private key
    server.pem                   gateway server certificate (serverAuth, IP/DNS SANs)
    server-key.pem
    partners/<partner_id>.pem    partner client certificate (clientAuth, SAN urn:cxg:partner:<id>)
    partners/<partner_id>-key.pem
    report-signer.pem            credit report signing certificate (documentSigning, key usage
                                 digitalSignature and nonRepudiation), then the CA certificate
    report-signer-key.pem

Keys are EC P-256, stored as unencrypted PKCS#8 PEM with mode 0600; every file is written to a
temporary name and renamed, so a crash never leaves half a key. Certificates start five minutes in
the past so a peer whose clock runs slightly behind still accepts them.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.errors import Conflict, Unavailable

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey

# Also the file-name stem: anything else could escape partners/ ("../x") or hide ("a\n").
PARTNER_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
PARTNER_URI_PREFIX = "urn:cxg:partner:"
PARTNER_ORGANIZATION = "cxg partner"

_CA_CERT = "ca.pem"
_CA_KEY = "ca-key.pem"
_SERVER_CERT = "server.pem"
_SERVER_KEY = "server-key.pem"
_PARTNERS = "partners"
_REPORT_CERT = "report-signer.pem"
_REPORT_KEY = "report-signer-key.pem"
REPORT_SIGNER_NAME = "cxg report signing"
# RFC 9336: id-kp-documentSigning, what a PDF signing certificate is for. It also carries
# emailProtection: NSS (behind poppler's pdfsig) checks a PDF signer as an email signer, and
# refuses a certificate whose extended key usage leaves that out.
_DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
_KEY_SUFFIX = "-key"
_CLOCK_SKEW = datetime.timedelta(minutes=5)
_PEM_CERT_HEADER = b"-----BEGIN CERTIFICATE-----"
_DNS_NAME = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class IssuedCertificate:
    """Where a certificate and its key were written, and the certificate's RFC 8705 thumbprint."""

    cert_path: Path
    key_path: Path
    thumbprint: str  # x5t#S256: base64url(SHA-256(DER certificate)), no padding


@dataclass(frozen=True)
class ServerTlsFiles:
    """What a gateway serving mutual TLS reads from a PKI folder."""

    cert: Path
    key: Path
    client_ca: Path

    @classmethod
    def in_dir(cls, directory: Path) -> ServerTlsFiles:
        files = cls(directory / _SERVER_CERT, directory / _SERVER_KEY, directory / _CA_CERT)
        missing = [str(p) for p in (files.cert, files.key, files.client_ca) if not p.is_file()]
        if missing:
            raise Unavailable(f"TLS files missing: {', '.join(missing)}; run `cxg pki init`")
        return files


def certificate_thumbprint(cert: bytes | x509.Certificate) -> str:
    """RFC 8705 section 3.1 ``x5t#S256`` of one certificate given as PEM, DER or parsed.

    PEM must hold exactly one certificate and nothing before it; DER must be the certificate
    alone. Anything else is refused rather than guessed at: a thumbprint of the wrong
    certificate would bind a token to the wrong client.
    """
    if isinstance(cert, x509.Certificate):
        parsed = cert
    elif isinstance(cert, bytes):
        if cert.lstrip().startswith(_PEM_CERT_HEADER):
            found = x509.load_pem_x509_certificates(cert)
            if len(found) != 1:
                raise ValueError(f"expected one PEM certificate, found {len(found)}")
            parsed = found[0]
        else:
            parsed = x509.load_der_x509_certificate(cert)
    else:
        raise TypeError(f"expected bytes or x509.Certificate, got {type(cert).__name__}")
    digest = hashlib.sha256(parsed.public_bytes(serialization.Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def init_ca(
    directory: Path, *, name: str = "cxg development CA", days: int = 3650
) -> IssuedCertificate:
    """Create the development CA in ``directory``, or load it if it is already there.

    An existing CA is kept as it is (``name`` and ``days`` are then ignored): replacing it would
    silently invalidate every certificate it issued.
    """
    cert_path, key_path = directory / _CA_CERT, directory / _CA_KEY
    if cert_path.exists() or key_path.exists():
        cert, _ = load_ca(directory)  # refuses half a CA rather than overwriting it
        return IssuedCertificate(cert_path, key_path, certificate_thumbprint(cert))
    not_before, not_after = _validity(days)
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    _write_key(key_path, key, replace=False)
    _write_cert(cert_path, cert, replace=False)
    return IssuedCertificate(cert_path, key_path, certificate_thumbprint(cert))


def load_ca(directory: Path) -> tuple[x509.Certificate, PrivateKey]:
    """The CA certificate and key from ``directory``; ``Unavailable`` if missing or inconsistent."""
    cert_path, key_path = directory / _CA_CERT, directory / _CA_KEY
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise Unavailable(
            f"no development CA in {directory} ({exc.filename} is missing); run init_ca"
        ) from exc
    except (OSError, ValueError, TypeError) as exc:
        raise Unavailable(f"development CA in {directory} is unusable: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise Unavailable(f"{key_path} is not an EC P-256 private key")
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise Unavailable(f"{key_path} does not belong to {cert_path}")
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise Unavailable(f"{cert_path} is not a CA certificate")
    return cert, key


def issue_server_certificate(
    directory: Path,
    hosts: Sequence[str] = ("127.0.0.1", "::1", "localhost"),
    *,
    days: int = 825,
) -> IssuedCertificate:
    """Issue (or re-issue, replacing the previous one) the gateway's TLS server certificate.

    Each host becomes a subjectAltName: an IP address if it parses as one, else a DNS name.
    """
    if isinstance(hosts, str):  # a str is a Sequence[str] of its characters
        raise TypeError("hosts must be a sequence of host names, not one string")
    if not hosts:
        raise ValueError("a server certificate needs at least one host")
    names = [_general_name(host) for host in hosts]
    ca_cert, ca_key = load_ca(directory)
    key = _new_key()
    cert = _issue(
        ca_cert,
        ca_key,
        key,
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cxg gateway")]),
        san=names,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        days=days,
    )
    cert_path, key_path = directory / _SERVER_CERT, directory / _SERVER_KEY
    _write_key(key_path, key, replace=True)
    _write_cert(cert_path, cert, replace=True)
    return IssuedCertificate(cert_path, key_path, certificate_thumbprint(cert))


def issue_partner_certificate(
    directory: Path, partner_id: str, *, days: int = 825, replace: bool = False
) -> IssuedCertificate:
    """Issue a client certificate for ``partner_id`` under ``directory/partners/``.

    An existing certificate or key for the partner is kept unless ``replace=True``: its
    thumbprint may already be registered, and replacing it would lock the partner out.
    """
    _check_partner_id(partner_id)
    ca_cert, ca_key = load_ca(directory)
    partners = directory / _PARTNERS
    cert_path = partners / f"{partner_id}.pem"
    key_path = partners / f"{partner_id}{_KEY_SUFFIX}.pem"
    if not replace:
        for path in (cert_path, key_path):
            if path.exists():
                raise Conflict(
                    f"{path} already exists; pass replace=True to issue a new certificate",
                    partner_id=partner_id,
                )
    key = _new_key()
    cert = _issue(
        ca_cert,
        ca_key,
        key,
        subject=x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, partner_id),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, PARTNER_ORGANIZATION),
            ]
        ),
        san=[x509.UniformResourceIdentifier(PARTNER_URI_PREFIX + partner_id)],
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        days=days,
    )
    partners.mkdir(parents=True, exist_ok=True)
    _write_key(key_path, key, replace=replace)
    _write_cert(cert_path, cert, replace=replace)
    return IssuedCertificate(cert_path, key_path, certificate_thumbprint(cert))


def issue_document_signer(
    directory: Path,
    *,
    days: int = 730,
    replace: bool = False,
    public_key: ec.EllipticCurvePublicKey | None = None,
) -> IssuedCertificate:
    """Issue the certificate credit reports are signed with (PAdES), creating the CA if there is
    none. ``report-signer.pem`` holds the certificate followed by the CA's, the chain a signature
    embeds; the key is EC P-256, which PDF readers verify.

    With ``public_key`` (a P-256 key held elsewhere, such as in an HSM), the certificate is
    issued for that key and no key file is written.

    An existing certificate or key is kept unless ``replace=True``: reports signed with it are
    still checked against it. This certificate is trusted by nobody but this CA's holders; a
    deployment sets its own (``CXG_REPORT_CERT``).
    """
    init_ca(directory)
    ca_cert, ca_key = load_ca(directory)
    cert_path, key_path = directory / _REPORT_CERT, directory / _REPORT_KEY
    if not replace:
        for path in (cert_path, key_path):
            if path.exists():
                raise Conflict(
                    f"{path} already exists; pass replace=True to issue a new certificate"
                )
    key = None
    if public_key is None:
        key = _new_key()
        public_key = key.public_key()
    not_before, not_after = _validity(days)
    not_after = min(not_after, ca_cert.not_valid_after_utc)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, REPORT_SIGNER_NAME)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([_DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    if key is not None:
        _write_key(key_path, key, replace=replace)
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, ca_cert))
    _write_atomic(cert_path, chain, mode=0o644, replace=replace)
    return IssuedCertificate(cert_path, key_path, certificate_thumbprint(cert))


def _check_partner_id(partner_id: str) -> None:
    # fullmatch, not "^...$": "$" also matches before a trailing newline.
    if not isinstance(partner_id, str) or not PARTNER_ID_PATTERN.fullmatch(partner_id):
        raise ValueError(
            f"partner id {partner_id!r} must match {PARTNER_ID_PATTERN.pattern} "
            "(lower-case letters, digits and hyphens, 2 to 63 characters)"
        )
    # "acme-key.pem" is both partner "acme-key"'s certificate and partner "acme"'s private key.
    if partner_id.endswith(_KEY_SUFFIX):
        raise ValueError(
            f"partner id {partner_id!r} must not end in {_KEY_SUFFIX!r}: "
            "its certificate file would collide with another partner's key file"
        )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _DNS_NAME.fullmatch(host):
        raise ValueError(f"host {host!r} is neither an IP address nor a DNS name")
    return x509.DNSName(host)


def _issue(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    key: PrivateKey,
    *,
    subject: x509.Name,
    san: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    days: int,
) -> x509.Certificate:
    not_before, not_after = _validity(days)
    # A certificate outliving its CA would only fail later and more confusingly.
    not_after = min(not_after, ca_cert.not_valid_after_utc)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    now = datetime.datetime.now(datetime.UTC)
    return now - _CLOCK_SKEW, now + datetime.timedelta(days=days)


def _new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _write_key(path: Path, key: PrivateKey, *, replace: bool) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(path, pem, mode=0o600, replace=replace)


def _write_cert(path: Path, cert: x509.Certificate, *, replace: bool) -> None:
    _write_atomic(path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644, replace=replace)


def _write_atomic(path: Path, data: bytes, *, mode: int, replace: bool) -> None:
    """Write ``data`` to a temporary file beside ``path`` and move it into place.

    mkstemp creates the file 0600, so a private key is never readable by others, not even
    for a moment. Without ``replace`` the move is a hard link, which fails if ``path`` appeared
    since the caller checked.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        tmp.chmod(mode)
        if replace:
            tmp.replace(path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError as exc:
                raise Conflict(f"{path} already exists; refusing to overwrite it") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


__all__ = [
    "PARTNER_ID_PATTERN",
    "PARTNER_ORGANIZATION",
    "PARTNER_URI_PREFIX",
    "REPORT_SIGNER_NAME",
    "IssuedCertificate",
    "PrivateKey",
    "certificate_thumbprint",
    "init_ca",
    "issue_document_signer",
    "issue_partner_certificate",
    "issue_server_certificate",
    "load_ca",
]
