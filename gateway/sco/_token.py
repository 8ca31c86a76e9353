"""SCO codes (上合码): the claims, their CWT encoding (RFC 8392) and the ``SC1:`` text form.

Text form, as the EU Digital COVID Certificate: ``SC1:`` + Base45(zlib(COSE_Sign1)). Base45
(RFC 9285) uses exactly the QR alphanumeric alphabet, so the QR code stays in its dense mode.

CWT claims map (deterministic CBOR)::

    1  iss   issuer id (tstr), e.g. "CN" or a partner id
    4  exp   expiry, epoch seconds
    6  iat   issued at, epoch seconds (also when the code starts to be valid)
    7  cti   code id, 8 random bytes (shown as 16 lower-case hex digits)
    65535    status (draft-ietf-oauth-status-list, "Referenced Token in COSE"):
             {"status_list": {"idx": uint, "uri": tstr}}, this code's slot in the Status List
             Token at ``uri`` (whose ``sub`` is that URI)
    -65537   SCO claims, a map with small integer keys (private-use claim key):
        1  subject ids   [[scheme, value], ...]; scheme 1 CN_USCC, 2 LEI, 3 AEO, other tstr
        2  names         [zh, en, ru], each tstr, "" when absent
        3  country       ISO 3166-1 alpha-2 (tstr)
        4  grade bucket  tstr, "" when none
        5  aeo           bool
        6  aeo type      tstr, "" when not AEO

Every key is always present, so a payload has one encoding and decoding is a strict shape check.
Codes issued before the status claim (and claims without a ``status_uri``) carry no 65535 and
the status index as SCO key 7 instead, with no URI; they decode as before.
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import base45  # type: ignore[import-untyped]  # RFC 9285; the package ships no type hints

from gateway.errors import InvalidArgument
from gateway.sco._base45 import b45decode
from gateway.sco._cose import MalformedError, cbor_decode, cbor_encode, sign1
from gateway.signing import Signer

PREFIX = "SC1:"
MAX_TEXT_LENGTH = 1000  # characters; a typical code is ~655, a QR code of version 40-M holds 3,391
MAX_COSE_BYTES = 4096  # inflated size bound: a zip bomb stops here

CLAIM_ISS, CLAIM_EXP, CLAIM_IAT, CLAIM_CTI, CLAIM_STATUS, CLAIM_SCO = 1, 4, 6, 7, 65535, -65537
SCO_IDS, SCO_NAMES, SCO_COUNTRY, SCO_GRADE, SCO_AEO, SCO_AEO_TYPE, SCO_STATUS = range(1, 8)
_CWT_KEYS = frozenset((CLAIM_ISS, CLAIM_EXP, CLAIM_IAT, CLAIM_CTI, CLAIM_STATUS, CLAIM_SCO))
_SCO_KEYS = frozenset(range(SCO_IDS, SCO_AEO_TYPE + 1))
# The layout of codes issued before the status claim: the index as SCO key 7, no URI.
_LEGACY_CWT_KEYS = _CWT_KEYS - {CLAIM_STATUS}
_LEGACY_SCO_KEYS = _SCO_KEYS | {SCO_STATUS}
_MAX_URI = 200  # characters; every one of them is in every code
# The three identifiers nearly every code carries, as one-byte codes; others travel as text.
SCHEME_CODES = {"CN_USCC": 1, "LEI": 2, "AEO": 3}
_SCHEME_NAMES = {v: k for k, v in SCHEME_CODES.items()}
_CODE_ID = re.compile(r"[0-9a-f]{16}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_MAX_TIME = 2**37  # epoch seconds (year 6325): past any real expiry, inside datetime's range
_T = TypeVar("_T")


class OversizeError(ValueError):
    """Input over a size bound; the verifier turns it into OVERSIZE."""


@dataclass(frozen=True)
class Names:
    """A company's legal name in the three languages a code carries; any may be empty."""

    zh: str = ""
    en: str = ""
    ru: str = ""


@dataclass(frozen=True)
class ScoClaims:
    """What an SCO code says about a company. Validated on construction, so a code can only
    be issued from claims that decode back to equal claims."""

    code_id: str
    subject_ids: tuple[tuple[str, str], ...]
    names: Names
    country: str
    grade_bucket: str
    aeo: bool
    aeo_type: str
    issued_at: datetime
    expires_at: datetime
    status_index: int
    issuer: str
    status_uri: str = ""  # the Status List Token's URI; "" in codes of the older layout

    def __post_init__(self) -> None:
        if not _CODE_ID.fullmatch(self.code_id):
            raise InvalidArgument("must be 8 bytes as 16 lower-case hex digits", field="code_id")
        if not self.subject_ids:
            raise InvalidArgument("a code names at least one identifier", field="subject_ids")
        for i, pair in enumerate(self.subject_ids):
            if len(pair) != 2 or not all(isinstance(p, str) and p for p in pair):
                raise InvalidArgument("must be a (scheme, value) pair", field=f"subject_ids/{i}")
        if not _COUNTRY.fullmatch(self.country):
            raise InvalidArgument("must be an ISO 3166-1 alpha-2 code", field="country")
        if self.aeo_type and not self.aeo:
            raise InvalidArgument("must be empty when aeo is false", field="aeo_type")
        for name in ("issued_at", "expires_at"):
            moment = getattr(self, name)
            if (
                moment.tzinfo is None
                or moment.microsecond
                or not 0 <= moment.timestamp() < _MAX_TIME
            ):
                raise InvalidArgument("must be an aware datetime in whole seconds", field=name)
        if self.expires_at <= self.issued_at:
            raise InvalidArgument("must be after issued_at", field="expires_at")
        if isinstance(self.status_index, bool) or self.status_index < 0:
            raise InvalidArgument("must be an integer >= 0", field="status_index")
        if not self.issuer:
            raise InvalidArgument("must not be empty", field="issuer")
        if self.status_uri and not is_uri(self.status_uri):
            raise InvalidArgument(
                f"must be an absolute URI of at most {_MAX_URI} characters", field="status_uri"
            )

    @classmethod
    def new(
        cls,
        *,
        subject_ids: Sequence[tuple[str, str]],
        names: Names,
        country: str,
        issuer: str,
        status_index: int,
        valid_for: timedelta,
        grade_bucket: str = "",
        aeo_type: str = "",
        status_uri: str = "",
        now: datetime | None = None,
    ) -> ScoClaims:
        """Claims for a new code: a fresh random code id, issued now (whole seconds)."""
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        return cls(
            code_id=_code_id(secrets.token_bytes(8)),
            subject_ids=tuple((s, v) for s, v in subject_ids),
            names=names,
            country=country,
            grade_bucket=grade_bucket,
            aeo=bool(aeo_type),
            aeo_type=aeo_type,
            issued_at=issued,
            expires_at=issued + valid_for,
            status_index=status_index,
            issuer=issuer,
            status_uri=status_uri,
        )


def issue(claims: ScoClaims, key: Signer) -> str:
    """The ``SC1:`` text of a new code for ``claims``, signed by ``key``. Refused (``names``)
    when it would be longer than a verifier reads: such a code could only ever be OVERSIZE."""
    cose = sign1(encode_claims(claims), key)
    encoded: bytes = base45.b45encode(zlib.compress(cose, 9))
    text = PREFIX + encoded.decode("ascii")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidArgument(
            f"the code would be {len(text)} characters, over the {MAX_TEXT_LENGTH} a verifier "
            "reads: carry fewer or shorter names",
            field="names",
        )
    return text


def encode_claims(claims: ScoClaims) -> bytes:
    iat = int(claims.issued_at.timestamp())
    sco = {
        SCO_IDS: [[SCHEME_CODES.get(s, s), v] for s, v in claims.subject_ids],
        SCO_NAMES: [claims.names.zh, claims.names.en, claims.names.ru],
        SCO_COUNTRY: claims.country,
        SCO_GRADE: claims.grade_bucket,
        SCO_AEO: claims.aeo,
        SCO_AEO_TYPE: claims.aeo_type,
    }
    cwt: dict[int, object] = {
        CLAIM_ISS: claims.issuer,
        CLAIM_EXP: int(claims.expires_at.timestamp()),
        CLAIM_IAT: iat,
        CLAIM_CTI: _cti(claims.code_id),
        CLAIM_SCO: sco,
    }
    if claims.status_uri:
        cwt[CLAIM_STATUS] = {"status_list": {"idx": claims.status_index, "uri": claims.status_uri}}
    else:
        sco[SCO_STATUS] = claims.status_index
    return cbor_encode(cwt)


def decode_claims(payload: bytes) -> ScoClaims:
    """Claims from a verified payload; any deviation from the layout is MalformedError."""
    cwt = cbor_decode(payload)
    if not isinstance(cwt, dict) or cwt.keys() not in (_CWT_KEYS, _LEGACY_CWT_KEYS):
        raise MalformedError("CWT claims are not the SCO code's claim set")
    sco = cwt[CLAIM_SCO]
    legacy = CLAIM_STATUS not in cwt
    if not isinstance(sco, dict) or sco.keys() != (_LEGACY_SCO_KEYS if legacy else _SCO_KEYS):
        raise MalformedError("SCO claim is not the expected map")
    index, uri = (sco[SCO_STATUS], "") if legacy else _status_claim(cwt[CLAIM_STATUS])
    ids = sco[SCO_IDS]
    names = sco[SCO_NAMES]
    if not isinstance(ids, list) or not all(isinstance(i, list) and len(i) == 2 for i in ids):
        raise MalformedError("subject ids must be [scheme, value] pairs")
    if not isinstance(names, list) or len(names) != 3 or not all(isinstance(n, str) for n in names):
        raise MalformedError("names must be [zh, en, ru]")
    cti = cwt[CLAIM_CTI]
    if not isinstance(cti, bytes) or len(cti) != 8:
        raise MalformedError("cti must be 8 bytes")
    try:
        return ScoClaims(
            code_id=_code_id(cti),
            subject_ids=tuple((_scheme(s), _text(v)) for s, v in ids),
            names=Names(*names),
            country=_text(sco[SCO_COUNTRY]),
            grade_bucket=_text(sco[SCO_GRADE]),
            aeo=_typed(sco[SCO_AEO], bool),
            aeo_type=_text(sco[SCO_AEO_TYPE]),
            issued_at=_time(cwt[CLAIM_IAT]),
            expires_at=_time(cwt[CLAIM_EXP]),
            status_index=_typed(index, int),
            issuer=_text(cwt[CLAIM_ISS]),
            status_uri=uri,
        )
    except InvalidArgument as exc:
        raise MalformedError(f"claim {exc}") from exc


def text_to_cose(text: object) -> bytes:
    """The COSE bytes inside a code's text, with every size bound applied before work."""
    if not isinstance(text, str):
        raise MalformedError("a code is text")
    if len(text) > MAX_TEXT_LENGTH:
        raise OversizeError(f"code is {len(text)} characters, over {MAX_TEXT_LENGTH}")
    if not text.startswith(PREFIX):
        raise MalformedError(f"code does not start with {PREFIX!r}")
    try:
        compressed = b45decode(text[len(PREFIX) :])
    except ValueError as exc:
        raise MalformedError("not valid Base45") from exc
    inflater = zlib.decompressobj()
    try:
        cose = inflater.decompress(compressed, MAX_COSE_BYTES + 1)
    except zlib.error as exc:
        raise MalformedError(f"not valid zlib data: {exc}") from exc
    if len(cose) > MAX_COSE_BYTES:
        raise OversizeError(f"code inflates past {MAX_COSE_BYTES} bytes")
    if not inflater.eof:
        raise MalformedError("zlib data is truncated")
    if inflater.unused_data:
        raise MalformedError("bytes after the zlib stream")
    return cose


def _status_claim(status: object) -> tuple[object, str]:
    """(idx, uri) of the draft's status claim, which must hold exactly that reference."""
    if not isinstance(status, dict) or status.keys() != {"status_list"}:
        raise MalformedError("status claim must be {status_list: {idx, uri}}")
    reference = status["status_list"]
    if not isinstance(reference, dict) or reference.keys() != {"idx", "uri"}:
        raise MalformedError("status_list must be {idx, uri}")
    uri = _text(reference["uri"])
    if not uri:
        raise MalformedError("status_list uri is empty")
    return reference["idx"], uri


def is_uri(text: str) -> bool:
    """An absolute URI with an authority (where a verifier fetches the status list), short and
    printable ASCII (it goes into every code)."""
    if len(text) > _MAX_URI or not (text.isascii() and text.isprintable()):
        return False
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        return False
    return bool(parts.scheme and parts.netloc)


def _code_id(cti: bytes) -> str:
    return cti.hex()


def _cti(code_id: str) -> bytes:
    return bytes.fromhex(code_id)


def _scheme(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in _SCHEME_NAMES:
            raise MalformedError(f"unknown scheme code {value}")
        return _SCHEME_NAMES[value]
    return _text(value)


def _text(value: object) -> str:
    return _typed(value, str)


def _typed(value: object, kind: type[_T]) -> _T:
    # bool is an int subclass; a status index must not be True.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _time(value: object) -> datetime:
    seconds = _typed(value, int)
    if not 0 <= seconds < _MAX_TIME:
        raise MalformedError("time out of range")
    return datetime.fromtimestamp(seconds, UTC)
