"""The status list: two bits per code, in the IETF OAuth Token Status List layout.

``{"bits": 2, "lst": base64url(zlib(bytes))}``; code ``i`` sits in byte ``i // 4`` at bit offset
``2 * (i % 4)`` from the least significant bit. Values follow the draft's registry: 0 VALID,
1 INVALID (revoked), 2 SUSPENDED, 3 application-specific, here "under review".

The Status List Token (draft-ietf-oauth-status-list, "Status List Token in JWT Format"): header
``typ`` ``statuslist+jwt``; claims ``sub`` (REQUIRED: the list's URI, equal to the ``uri`` in the
status claim of every code it covers), ``iat`` (REQUIRED), ``exp`` and ``ttl`` (RECOMMENDED
there; always set here, and ``exp`` required by ``verify``: a verifier must not decide on a
status the issuer no longer vouches for), ``status_list`` (REQUIRED), and ``iss`` (allowed).

A code's state changes only along ``TRANSITIONS``: revocation (the draft's INVALID) is final.
"""

from __future__ import annotations

import base64
import enum
import zlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from gateway.errors import InvalidArgument, Unauthenticated
from gateway.sco._jws import epoch, from_epoch, sign_document, verify_document
from gateway.sco._token import is_uri
from gateway.signing import Signer

STATUS_LIST_TYP = "statuslist+jwt"
BITS = 2
_PER_BYTE = 8 // BITS
MAX_CODES = 1 << 24  # 4 MiB of status bits; a signed list inflating past this is refused


class CodeStatus(enum.IntEnum):
    VALID = 0
    REVOKED = 1
    SUSPENDED = 2
    UNDER_REVIEW = 3

    def may_become(self, new: CodeStatus) -> bool:
        """Whether a code in this state may be changed to ``new`` (see ``TRANSITIONS``)."""
        return new in TRANSITIONS[self]


# Every state but revoked may change to any other; revoked changes to nothing (the status list
# draft's INVALID is for good, and a verifier that saw it may have acted on it). A "change" to the
# state a code is already in is no change, and refused as such.
TRANSITIONS: dict[CodeStatus, frozenset[CodeStatus]] = {
    CodeStatus.VALID: frozenset(
        {CodeStatus.SUSPENDED, CodeStatus.UNDER_REVIEW, CodeStatus.REVOKED}
    ),
    CodeStatus.SUSPENDED: frozenset(
        {CodeStatus.VALID, CodeStatus.UNDER_REVIEW, CodeStatus.REVOKED}
    ),
    CodeStatus.UNDER_REVIEW: frozenset(
        {CodeStatus.VALID, CodeStatus.SUSPENDED, CodeStatus.REVOKED}
    ),
    CodeStatus.REVOKED: frozenset(),
}


class StatusList:
    """The status of every code one issuer has issued, by the code's ``status_index``.

    ``subject`` is the list's URI (the ``sub`` claim); ``issued_at``, ``expires_at`` and ``ttl``
    are set on a list that came out of ``verify``.
    """

    def __init__(
        self,
        size: int,
        *,
        issuer: str,
        subject: str = "",
        data: bytes | None = None,
        issued_at: datetime | None = None,
        expires_at: datetime | None = None,
        ttl: timedelta | None = None,
    ) -> None:
        if not 0 < size <= MAX_CODES:
            raise InvalidArgument(f"must be 1 to {MAX_CODES}", field="size")
        length = -(-size // _PER_BYTE)
        if data is not None and len(data) != length:
            raise InvalidArgument(f"must be {length} bytes", field="data")
        self.issuer = issuer
        self.subject = subject
        self._bits = bytearray(data if data is not None else length)
        self.issued_at = issued_at
        self.expires_at = expires_at
        self.ttl = ttl

    @property
    def size(self) -> int:
        """How many codes the list holds (a whole number of bytes' worth)."""
        return len(self._bits) * _PER_BYTE

    def get(self, index: int) -> CodeStatus:
        byte, shift = self._slot(index)
        return CodeStatus((self._bits[byte] >> shift) & 0b11)

    def set(self, index: int, status: CodeStatus) -> None:
        byte, shift = self._slot(index)
        self._bits[byte] = (self._bits[byte] & ~(0b11 << shift)) | (CodeStatus(status) << shift)

    def lst(self) -> str:
        return base64.urlsafe_b64encode(zlib.compress(bytes(self._bits), 9)).rstrip(b"=").decode()

    def sign(
        self,
        key: Signer,
        *,
        now: datetime,
        valid_for: timedelta = timedelta(days=1),
        ttl: timedelta = timedelta(hours=1),
    ) -> str:
        """The Status List Token (a JWS with the claims above), signed by ``key``."""
        if not is_uri(self.subject):
            raise InvalidArgument("a signed list names its URI (sub)", field="subject")
        if ttl.total_seconds() < 1:
            raise InvalidArgument("must be a positive number of seconds", field="ttl")
        document = {
            "sub": self.subject,
            "iss": self.issuer,
            "iat": epoch(now),
            "exp": epoch(now + valid_for),
            "ttl": int(ttl.total_seconds()),
            "status_list": {"bits": BITS, "lst": self.lst()},
        }
        return sign_document(key, STATUS_LIST_TYP, document)

    @classmethod
    def verify(cls, jws: str, anchor_jwks: Mapping[str, Any], now: datetime) -> StatusList:
        """The list ``jws`` signs; ``Unauthenticated`` if no anchor key verifies it or it has
        expired (a verifier must not decide on a status the issuer no longer vouches for)."""
        document = verify_document(jws, anchor_jwks, STATUS_LIST_TYP, "status_list")
        expires_at = from_epoch(document, "exp", "status_list")
        if now >= expires_at:
            raise Unauthenticated(
                f"status list expired at {expires_at.isoformat()}",
                field="status_list/exp",
                rule="expired",
            )
        body = document.get("status_list")
        ttl = document.get("ttl")
        issuer = document.get("iss")
        subject = document.get("sub")
        if not isinstance(body, dict) or body.get("bits") != BITS:
            raise InvalidArgument(f"must be {{bits: {BITS}, lst}}", field="status_list/status_list")
        # The draft: "MUST be a positive number"; an absent ttl is allowed there, not here.
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
            raise InvalidArgument("must be whole seconds, at least 1", field="status_list/ttl")
        if not isinstance(issuer, str) or not issuer:
            raise InvalidArgument("must be the issuer id", field="status_list/iss")
        if not isinstance(subject, str) or not is_uri(subject):
            raise InvalidArgument("must be the list's URI", field="status_list/sub")
        data = _inflate(body.get("lst"))
        return cls(
            len(data) * _PER_BYTE,
            issuer=issuer,
            subject=subject,
            data=data,
            issued_at=from_epoch(document, "iat", "status_list"),
            expires_at=expires_at,
            ttl=timedelta(seconds=ttl),
        )

    @classmethod
    def from_lst(cls, lst: str, *, issuer: str) -> StatusList:
        """A list from its ``lst`` member alone (no signature: for tests and tools)."""
        data = _inflate(lst)
        return cls(len(data) * _PER_BYTE, issuer=issuer, data=data)

    def _slot(self, index: int) -> tuple[int, int]:
        if isinstance(index, bool) or not 0 <= index < self.size:
            raise InvalidArgument(f"outside the list (size {self.size})", field="index")
        return index // _PER_BYTE, BITS * (index % _PER_BYTE)


def _inflate(lst: object) -> bytes:
    field = "status_list/status_list/lst"
    if not isinstance(lst, str):
        raise InvalidArgument("must be base64url text", field=field)
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(
            base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)), MAX_CODES // _PER_BYTE + 1
        )
    except (ValueError, zlib.error) as exc:
        raise InvalidArgument(f"not base64url zlib data: {exc}", field=field) from exc
    if len(data) > MAX_CODES // _PER_BYTE or not inflater.eof or not data:
        raise InvalidArgument("status bits are empty, truncated or too large", field=field)
    return data
