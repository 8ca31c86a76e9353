"""Reading JSON that comes from outside the gateway, and the parts of a compact JWS it is read from.

Every JSON document a caller sends (request bodies, JWS headers and payloads, client assertions,
DPoP proofs) is read here: bounded in size and nesting depth, one UTF-8 value, unique member
names, no ``NaN`` or ``Infinity``. Python's ``json`` recurses once per nesting level, so a few
kilobytes of ``[[[[...`` would end in a ``RecursionError`` (an answer 500, not a refusal): the
depth is measured first, by a scan of the brackets outside strings that runs as a few passes of
C code, and only a document within the bound is parsed.

Errors are ``JsonError`` (a ``ValueError``) saying which rule was broken; each caller turns it
into the refusal of its own field, as it knows which one the document came from.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

MAX_DEPTH = 32  # a credit profile nests 4 deep, a DPoP header 2
MAX_BYTES = 4 * 1024 * 1024  # above the default request limit (CXG_MAX_REQUEST_BYTES, 1 MiB)
MAX_HEADER_BYTES = 8 * 1024  # a JWS protected header: alg, kid, typ, a public key at most

_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_ONE_KIND = bytes.maketrans(b"{}", b"[]")


class JsonError(ValueError):
    """Bytes that are not one JSON value within the bounds; the message names the rule."""


def read_json(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value ``data`` holds, once its size and nesting are within the bounds."""
    if len(data) > max_bytes:
        raise JsonError(f"longer than {max_bytes} bytes")
    if _deeper_than(data, max_depth):
        raise JsonError(f"nested too deeply (more than {max_depth} levels)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonError(f"not UTF-8: {exc.reason} at byte {exc.start}") from exc
    try:
        return json.loads(text, object_pairs_hook=_unique_names, parse_constant=_no_constant)
    except ValueError as exc:  # JSONDecodeError, a duplicate name, an over-long number
        raise JsonError(f"not valid JSON: {exc}") from exc


def read_json_object(
    data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> dict[str, Any]:
    """``read_json`` for a document that must be a JSON object."""
    value = read_json(data, max_bytes=max_bytes, max_depth=max_depth)
    if not isinstance(value, dict):
        raise JsonError("not a JSON object")
    return value


def jws_header(token: str, *, max_bytes: int = MAX_HEADER_BYTES) -> dict[str, Any]:
    """The protected header of a compact JWS, read before any key is chosen: it decides which key
    to try, never whether to trust what the JWS says."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JsonError("not a JWS compact serialization (three base64url parts)")
    if len(parts[0]) > (max_bytes * 4 + 2) // 3:  # before decoding anything
        raise JsonError(f"longer than {max_bytes} bytes")
    return read_json_object(b64url_decode(parts[0]), max_bytes=max_bytes)


def b64url_decode(segment: str) -> bytes:
    """Strict unpadded base64url (RFC 7515 section 2): a segment that does not re-encode to
    itself is refused, so that one value has one encoding."""
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JsonError("not base64url") from exc
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != segment:
        raise JsonError("not canonical unpadded base64url")
    return data


def _deeper_than(data: bytes, max_depth: int) -> bool:
    """Whether the brackets outside strings may nest deeper than ``max_depth``.

    Each pass removes the innermost pairs, one level of nesting. Brackets no pass removes are
    unbalanced (the document is not JSON anyway); each may still be one more level for the
    parser before it notices, so they count as one level each.
    """
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    # Without its escaped backslashes and quotes, every string is a run between two quotes.
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.split(b'"')[::2])
    brackets = outside.translate(_ONE_KIND, _NOT_BRACKETS)
    for level in range(max_depth + 1):
        inner = brackets.replace(b"[]", b"")
        if inner == brackets:
            return level + len(brackets) > max_depth
        brackets = inner
    return True


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7515 section 5.2 and RFC 8259 section 4: two readers of one document (this one and a
    # JOSE library, or protobuf) must not see different values for a name given twice.
    document: dict[str, Any] = {}
    for name, value in pairs:
        if name in document:
            raise ValueError(f"duplicate member name {name!r}")
        document[name] = value
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
