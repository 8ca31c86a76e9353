"""Signed JSON documents (the trust list, the status list) as compact JWS, checked against a
set of anchor keys that the verifier got out of band (the gateway's published JWKS)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jwt

from gateway._json import JsonError, jws_header, read_json_object
from gateway.errors import InvalidArgument, Unauthenticated
from gateway.signing import SUPPORTED_ALGORITHMS, Signer


def sign_document(key: Signer, typ: str, document: Mapping[str, Any]) -> str:
    """``document`` as canonical JSON (sorted keys, no spaces), signed as exactly those bytes."""
    payload = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return key.sign_jws(payload.encode("utf-8"), {"typ": typ})


def verify_document(
    jws: str, anchor_jwks: Mapping[str, Any], typ: str, field: str
) -> dict[str, Any]:
    """The JSON object ``jws`` signs, if an anchor key with its kid verifies it.

    The anchor key alone decides the algorithm (its ``alg`` member); the header must agree.
    """
    try:
        header = jws_header(jws)
    except JsonError as exc:
        raise InvalidArgument(f"not a compact JWS: {exc}", field=field) from exc
    if header.get("typ") != typ:
        raise InvalidArgument(f"JWS typ must be {typ!r}", field=f"{field}.header.typ")
    if header.get("crit") is not None:
        raise Unauthenticated("JWS crit parameters are not supported", field=field)
    kid = header.get("kid")
    anchors = [
        k for k in anchor_jwks.get("keys", []) if isinstance(k, dict) and k.get("kid") == kid
    ]
    if not anchors:
        raise Unauthenticated(f"no anchor key has kid {kid!r}", field=f"{field}.header.kid")
    for jwk in anchors:
        alg = jwk.get("alg")
        if alg not in SUPPORTED_ALGORITHMS or header.get("alg") != alg:
            continue
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=alg).key
            payload = jwt.api_jws.decode_complete(jws, key, algorithms=[alg])["payload"]
        except jwt.PyJWTError:
            continue
        try:
            return read_json_object(payload)
        except JsonError as exc:
            raise InvalidArgument(f"signed payload: {exc}", field=field) from exc
    raise Unauthenticated("JWS signature does not verify with any anchor key", field=field)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def from_epoch(document: Mapping[str, Any], name: str, field: str) -> datetime:
    value = document.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**37:
        raise InvalidArgument("must be epoch seconds", field=f"{field}/{name}")
    return datetime.fromtimestamp(value, UTC)
