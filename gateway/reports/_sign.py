"""PAdES signatures on reports (ETSI EN 319 142-1, B-B; B-T with an RFC 3161 time-stamping
authority): ``DocumentSigner``, the key and certificate chain reports are signed with, and
``sign_report``.

The key is a gateway ``Signer`` (a key file's or a PKCS#11 token's), adapted to pyHanko's signer
interface: pyHanko builds the CMS signed attributes, our key signs them (ES256 gives r || s,
which CMS carries DER-encoded). Only P-256 keys are accepted: poppler's pdfsig and the common PDF
readers verify ECDSA P-256, not Ed25519. pyHanko appends the signature as an incremental update,
so the PDF/A-3b document it signs stays as it was, byte for byte, before the update.

Signing runs pyHanko's event loop in the calling thread: call it off the gateway's event loop
(as the service's CPU-bound work is, gateway/service/offload.py).
"""

from __future__ import annotations

import io
import itertools
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]  # asn1crypto ships no types
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from gateway.errors import GatewayError, InvalidArgument, Unavailable
from gateway.signing import Signer, SigningKey

with warnings.catch_warnings():
    # pyHanko imports cryptography's DSA classes, which cryptography 46+ marks deprecated on
    # access; reports never use DSA.
    warnings.filterwarnings("ignore", "DSA is deprecated", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.sign import fields, signers
    from pyhanko.sign.general import SigningError
    from pyhanko.sign.signers import constants
    from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
    from pyhanko_certvalidator.registry import SimpleCertificateStore

CERT_SETTING = "CXG_REPORT_CERT"
KEY_SETTING = "CXG_REPORT_KEY"
TSA_SETTING = "CXG_REPORT_TSA_URL"
FIELD_NAME = "ReportSignature"
REASON = "企业信用报告 / Company credit report / Кредитный отчёт о компании"
_ES256_DER_MAX = 72  # SEQUENCE of two INTEGERs of up to 33 bytes each
_TSA_TIMEOUT = 10  # seconds
# CMS space beyond the certificates: signed attributes, the signature, algorithm identifiers.
_CMS_OVERHEAD = 2048


class DocumentSigner:
    """The key and certificate chain (the signer's first) reports are signed with."""

    def __init__(self, signer: Signer, chain: Sequence[x509.Certificate]) -> None:
        """``from_pem_files`` and ``from_signer`` say which setting is wrong when one is."""
        _check(signer, chain, None, "the report certificate")
        self._signer = signer
        self._chain = tuple(chain)
        self._hanko = _PyHankoSigner(signer, self._chain)
        # Fixed for B-B (no timestamp token of unknown size), so pyHanko need not build the
        # signature twice to size it.
        self._reserved = 2 * (
            sum(len(c.public_bytes(serialization.Encoding.DER)) for c in self._chain)
            + _CMS_OVERHEAD
        )

    @classmethod
    def from_pem_files(cls, cert_path: Path, key_path: Path) -> DocumentSigner:
        """A P-256 key file and its certificate file (which may hold the chain, signer first)."""
        chain = _read_chain(cert_path)
        try:
            key_pem = Path(key_path).read_bytes()
        except OSError as exc:
            raise Unavailable(
                f"cannot read the report signing key {key_path}: {exc.strerror or exc}",
                field=KEY_SETTING,
            ) from exc
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise Unavailable(
                f"{key_path} is not an unencrypted PEM private key: {exc}", field=KEY_SETTING
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise Unavailable(f"{key_path} holds {_key_kind(key)}; {_P256_ONLY}", field=KEY_SETTING)
        signing_key = SigningKey.from_private_key(key)
        _check(signing_key, chain, CERT_SETTING, str(cert_path))
        return cls(signing_key, chain)

    @classmethod
    def from_signer(cls, signer: Signer, chain: Sequence[x509.Certificate]) -> DocumentSigner:
        """A gateway key (a file's ``SigningKey``, a token's ``Pkcs11Key``) and its chain, the
        signer's certificate first."""
        return cls(signer, chain)

    @property
    def certificate(self) -> x509.Certificate:
        """The signer's certificate."""
        return self._chain[0]

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return self._chain


def sign_report(pdf: bytes, signer: DocumentSigner, *, timestamp_url: str | None = None) -> bytes:
    """``pdf`` with a PAdES signature appended: B-B, or B-T with a time-stamp token from the
    RFC 3161 authority at ``timestamp_url``. Blocking (and, with a timestamp, on the network)."""
    now = datetime.now(UTC)
    certificate = signer.certificate
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Unavailable(
            f"the report signing certificate is valid from {certificate.not_valid_before_utc:%Y-%m-%d}"
            f" to {certificate.not_valid_after_utc:%Y-%m-%d}, not now",
            field=CERT_SETTING,
        )
    name = _subject_text(certificate, NameOID.COMMON_NAME) or certificate.subject.rfc4514_string()
    location = (
        ", ".join(
            text
            for oid in (NameOID.LOCALITY_NAME, NameOID.STATE_OR_PROVINCE_NAME, NameOID.COUNTRY_NAME)
            if (text := _subject_text(certificate, oid))
        )
        or _subject_text(certificate, NameOID.ORGANIZATION_NAME)
        or name
    )
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        use_pades_lta=False,
        name=name,
        reason=REASON,
        location=location,
    )
    timestamper = HTTPTimeStamper(timestamp_url, timeout=_TSA_TIMEOUT) if timestamp_url else None
    pdf_signer = _PdfSigner(metadata, signer._hanko, timestamper=timestamper)
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        if writer.prev.embedded_signatures:
            raise InvalidArgument("the document is signed already", field="pdf")
        # With a timestamp the token's size is not known beforehand: pyHanko sizes it.
        reserved = None if timestamper else signer._reserved
        signed = pdf_signer.sign_pdf(writer, bytes_reserved=reserved)
    except GatewayError:
        raise  # the key's own (a token that fails answers Unavailable)
    except TimestampRequestError as exc:
        raise Unavailable(
            f"the time-stamping authority {timestamp_url} refused or did not answer: {exc}",
            field=TSA_SETTING,
        ) from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        if timestamper is None:
            raise
        raise Unavailable(
            f"the time-stamping authority {timestamp_url} could not be reached: {exc or type(exc).__name__}",
            field=TSA_SETTING,
        ) from exc
    except PdfError as exc:
        raise InvalidArgument(f"not a PDF that can be signed: {exc}", field="pdf") from exc
    except SigningError as exc:
        raise Unavailable(f"the report could not be signed: {exc}") from exc
    return bytes(signed.getbuffer())


class _PdfSigner(signers.PdfSigner):
    """pyHanko's signer, keeping the document at PDF 1.7, which PDF/A-3 is a profile of. For an
    ECDSA P-256 signature pyHanko would declare PDF 2.0 (the ISO/TS 32002 extension); PAdES in
    PDF 1.7 is declared by the ESIC extension alone (ETSI EN 319 142-1)."""

    def register_extensions(self, pdf_out: Any, *, md_algorithm: str) -> None:
        pdf_out.ensure_output_version(version=(1, 7))
        pdf_out.register_extension(constants.ESIC_EXTENSION_1)


class _PyHankoSigner(signers.Signer):
    """pyHanko's view of a gateway ``Signer``."""

    def __init__(self, signer: Signer, chain: Sequence[x509.Certificate]) -> None:
        certificates = [
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in chain
        ]
        super().__init__(
            signing_cert=certificates[0],
            cert_registry=SimpleCertificateStore.from_certs(certificates),  # type: ignore[no-untyped-call]  # unannotated classmethod
            embed_roots=True,
        )
        self._gateway_signer = signer

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if digest_algorithm != "sha256":
            raise SigningError(f"reports are signed with ES256 (SHA-256), not {digest_algorithm}")
        if dry_run:  # pyHanko sizing a signature: the longest an ES256 one can be
            return bytes(_ES256_DER_MAX)
        raw = self._gateway_signer.sign(data)  # r || s, 32 bytes each
        return encode_dss_signature(
            int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        )


def _check(
    signer: Signer, chain: Sequence[x509.Certificate], field: str | None, where: str
) -> None:
    """Refuse (``Unavailable``, naming ``field``) a key that is not P-256, a first certificate
    that is not the key's or not for signing, and a chain out of order."""
    chain = list(chain)
    if not chain:
        raise ValueError("a report signer needs its certificate chain, the signer's first")
    public = signer.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
        public.curve, ec.SECP256R1
    ):
        raise Unavailable(
            f"the report signing key is {_key_kind(public)}; {_P256_ONLY}", field=field
        )
    if _spki(chain[0].public_key()) != _spki(public):
        raise Unavailable(
            f"the first certificate in {where} ({chain[0].subject.rfc4514_string()}) is not"
            " the report signing key's: its public key differs",
            field=field,
        )
    try:
        usage = chain[0].extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        raise Unavailable(
            f"the report certificate in {where} does not allow digital signatures (key usage)",
            field=field,
        )
    for issued, issuer in itertools.pairwise(chain):
        try:
            issued.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as exc:
            raise Unavailable(
                f"the certificate chain in {where} is out of order or broken:"
                f" {issued.subject.rfc4514_string()} is not issued by"
                f" {issuer.subject.rfc4514_string()} ({exc or type(exc).__name__})",
                field=field,
            ) from exc


_P256_ONLY = (
    "reports are signed with ECDSA P-256 (ES256), which poppler's pdfsig and PDF readers verify"
    " (they do not verify Ed25519); use a P-256 key and its certificate"
)


def _key_kind(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"an EC key on curve {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "an Ed25519 key"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "an RSA key"
    return f"a key of type {type(key).__name__}"


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _subject_text(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    attributes = certificate.subject.get_attributes_for_oid(oid)
    value = attributes[0].value if attributes else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _read_chain(path: Path) -> list[x509.Certificate]:
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise Unavailable(
            f"cannot read the report certificate {path}: {exc.strerror or exc}", field=CERT_SETTING
        ) from exc
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise Unavailable(
            f"{path} holds no PEM certificate chain (signer first): {exc}", field=CERT_SETTING
        ) from exc
