"""Page sizes and opaque page tokens, the same way for every list operation (Google AIP-158).

A token is base64url of ``KIND:CURSOR``; the kind keeps one operation's token from being
accepted by another, and the cursor must match the operation's pattern before it is used.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta

from gateway.errors import InvalidArgument

# Most lists page 20 items at a time, at most 100 (AIP-158 leaves the numbers to the API).
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def page_size(
    requested: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE
) -> int:
    if not 0 <= requested <= maximum:
        raise InvalidArgument(f"page_size must be between 0 and {maximum}", field="page_size")
    return requested or default


def encode_token(kind: str, cursor: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{cursor}".encode()).decode("ascii")


def decode_token(token: str, kind: str, cursor: re.Pattern[str]) -> re.Match[str]:
    """The cursor of a token this gateway issued for ``kind``; InvalidArgument otherwise."""
    try:
        found, _, value = (
            base64.b64decode(token, altchars=b"-_", validate=True).decode("ascii").partition(":")
        )
    except (binascii.Error, UnicodeError, ValueError):
        found, value = "", ""
    match = cursor.fullmatch(value) if found == kind else None
    if match is None:
        raise InvalidArgument(
            "page_token is not one this gateway issued for this request", field="page_token"
        )
    return match


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TIME_AND_ID = re.compile(r"([0-9]{1,20}):([0-9a-f]{32})")


def encode_time_token(kind: str, at: datetime, row_id: str) -> str:
    """The cursor after a row of a list ordered by (time, id): the time in whole microseconds
    (exact, unlike a float) and the row's id."""
    return encode_token(kind, f"{(at - _EPOCH) // _MICROSECOND}:{row_id}")


def decode_time_token(token: str, kind: str) -> tuple[datetime, str]:
    cursor = decode_token(token, kind, _TIME_AND_ID)
    try:
        return _EPOCH + int(cursor[1]) * _MICROSECOND, cursor[2]
    except OverflowError as exc:
        raise InvalidArgument(
            "page_token is not one this gateway issued for this request", field="page_token"
        ) from exc
