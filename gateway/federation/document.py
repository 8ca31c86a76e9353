"""The federation document: what a gateway tells its peers about itself, signed by every one
of its keys (as the EU DCC Gateway's trust list tells every backend which keys sign whose
certificates).

It is a JWS in the general JSON serialization (RFC 7515 section 7.2.1) with one signature per
key of the gateway's keyring, so a peer that pinned any one of them verifies it: a rotation is
followed (the new key is listed, and signs, beside the old one), and a key dropped from the
keyring is dropped by every peer at its next refresh. A peer whose pinned keys are all gone
must be pinned again by its operator; nothing else re-establishes trust.

A verifier (``FederationDocument.verify``) takes the algorithm from the pinned key, never from
the document; refuses a document that a pinned key's signature fails on (a forgery beside a
genuine signature is still a forgery), one for another gateway, one past its ``nextUpdate``,
and one issued before the last it accepted (a rollback could bring back a revoked key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway._json import JsonError, b64url_decode, jws_header, read_json_object
from gateway.errors import InvalidArgument, Unauthenticated
from gateway.sco._jws import epoch, from_epoch
from gateway.sco._jws import verify_document as verify_compact
from gateway.sco._trust import TrustedKey
from gateway.signing import SUPPORTED_ALGORITHMS, Signer, thumbprint

FEDERATION_TYP = "cxg-federation+jws"
MAX_DOCUMENT_BYTES = 256 * 1024  # read no more of a peer's answer than this
MAX_SIGNATURES = 16
MAX_KEYS = 64
CLOCK_SKEW = timedelta(minutes=5)  # a document issued this far "in the future" is still taken
# The ``rule`` of the refusal of a document older than one accepted: a replay of an old document
# (one that may still list a revoked key), on which peers raise an alarm.
ROLLBACK = "rollback"


@dataclass(frozen=True)
class FederationDocument:
    gateway: str  # the gateway's id: the `iss` of what it signs
    country: str
    rest_url: str  # where its API, this document and its log are
    origin: str  # its audit log's name (the origin line of its checkpoints)
    checkpoint_key: str  # the note verifier key its checkpoints are signed with
    keys: tuple[Mapping[str, str], ...]  # its public JWKs: profiles, SCO codes, this document
    sco_issuers: tuple[TrustedKey, ...]  # the SCO issuer keys its own trust list names
    issued_at: datetime
    next_update: datetime

    def payload(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway,
            "country": self.country,
            "rest": self.rest_url,
            "origin": self.origin,
            "checkpointKey": self.checkpoint_key,
            "keys": [dict(key) for key in self.keys],
            "scoIssuers": [key.to_json() for key in self.sco_issuers],
            "issuedAt": epoch(self.issued_at),
            "nextUpdate": epoch(self.next_update),
        }

    def sign(self, signers: Sequence[Signer]) -> str:
        """The document in the general JSON serialization, one signature per signer, over
        exactly the canonical payload bytes."""
        payload = json.dumps(
            self.payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
        signatures = []
        encoded = ""
        for signer in signers:
            protected, encoded, signature = signer.sign_jws(payload, {"typ": FEDERATION_TYP}).split(
                "."
            )
            signatures.append({"protected": protected, "signature": signature})
        return json.dumps({"payload": encoded, "signatures": signatures}, separators=(",", ":"))

    @classmethod
    def verify(
        cls,
        text: bytes,
        pinned: Sequence[Mapping[str, Any]],
        *,
        gateway: str,
        now: datetime,
        not_before: datetime | None = None,
    ) -> FederationDocument:
        """The document ``text`` holds, if a pinned key signed it and it is current: for
        ``gateway``, not past ``nextUpdate``, not issued before ``not_before`` (the issue time
        of the last one accepted)."""
        try:
            envelope = read_json_object(text, max_bytes=MAX_DOCUMENT_BYTES)
        except JsonError as exc:
            raise InvalidArgument(f"not a JSON document: {exc}", field="document") from exc
        payload, signatures = envelope.get("payload"), envelope.get("signatures")
        if set(envelope) != {"payload", "signatures"} or not isinstance(payload, str):
            raise InvalidArgument(
                "must be a JWS in the general JSON serialization: payload and signatures only",
                field="document",
            )
        if not isinstance(signatures, list) or not 1 <= len(signatures) <= MAX_SIGNATURES:
            raise InvalidArgument(
                f"must carry 1 to {MAX_SIGNATURES} signatures", field="document/signatures"
            )
        anchors = {"keys": [dict(key) for key in pinned]}
        pinned_kids = {key.get("kid") for key in pinned}
        document: dict[str, Any] | None = None
        for i, entry in enumerate(signatures):
            where = f"document/signatures/{i}"
            if not isinstance(entry, dict) or set(entry) != {"protected", "signature"}:
                raise InvalidArgument("must hold protected and signature only", field=where)
            compact = f"{entry['protected']}.{payload}.{entry['signature']}"
            try:
                kid = jws_header(compact).get("kid")
            except (JsonError, TypeError) as exc:
                raise InvalidArgument(f"protected header: {exc}", field=where) from exc
            if kid not in pinned_kids:
                continue  # a key this verifier does not (yet) trust: ignored, as in a note
            document = verify_compact(compact, anchors, FEDERATION_TYP, where)
        if document is None:
            raise Unauthenticated(
                f"no signature of a key pinned for peer {gateway!r}", field="document/signatures"
            )
        found = cls.from_payload(document)
        if found.gateway != gateway:
            raise Unauthenticated(
                f"the document is gateway {found.gateway!r}'s, not {gateway!r}'s",
                field="document/gateway",
            )
        if found.next_update <= now:
            raise Unauthenticated(
                f"the document expired at {found.next_update.isoformat()}",
                field="document/nextUpdate",
            )
        if found.issued_at > now + CLOCK_SKEW:
            raise Unauthenticated("the document is issued in the future", field="document/issuedAt")
        if not_before is not None and found.issued_at < not_before:
            raise Unauthenticated(
                f"the document was issued at {found.issued_at.isoformat()}, before the one"
                f" accepted already ({not_before.isoformat()}): a rollback",
                field="document/issuedAt",
                rule=ROLLBACK,
            )
        return found

    @classmethod
    def accepted(cls, text: str) -> FederationDocument:
        """A document this gateway verified when it accepted it, read again without its
        signatures (which only the pinned keys of that moment can check)."""
        payload = json.loads(text)["payload"]
        return cls.from_payload(read_json_object(b64url_decode(payload)))

    @classmethod
    def from_payload(cls, document: Mapping[str, Any]) -> FederationDocument:
        keys = document.get("keys")
        if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
            raise InvalidArgument(f"must list 1 to {MAX_KEYS} keys", field="document/keys")
        issuers = document.get("scoIssuers")
        if not isinstance(issuers, list) or len(issuers) > MAX_KEYS:
            raise InvalidArgument(f"must list at most {MAX_KEYS} keys", field="document/scoIssuers")
        return cls(
            gateway=_text(document, "gateway"),
            country=_text(document, "country"),
            rest_url=_text(document, "rest"),
            origin=_text(document, "origin"),
            checkpoint_key=_text(document, "checkpointKey"),
            keys=tuple(_signing_key(key, f"document/keys/{i}") for i, key in enumerate(keys)),
            sco_issuers=tuple(
                TrustedKey.from_json(entry, f"document/scoIssuers/{i}")
                for i, entry in enumerate(issuers)
            ),
            issued_at=from_epoch(document, "issuedAt", "document"),
            next_update=from_epoch(document, "nextUpdate", "document"),
        )


def _text(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= 2048:
        raise InvalidArgument("must be a non-empty string", field=f"document/{name}")
    return value


def _signing_key(key: Any, where: str) -> dict[str, str]:
    """A listed key as a clean public JWK; its kid must be its RFC 7638 thumbprint, as every
    gateway key's is, so that a document cannot list one key under another's kid."""
    if not isinstance(key, dict) or key.get("alg") not in SUPPORTED_ALGORITHMS:
        raise InvalidArgument(
            f"must be a public JWK with alg one of {SUPPORTED_ALGORITHMS}", field=where
        )
    try:
        public = TrustedKey.from_jwk(key, issuer="-", country="-")
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgument(f"not a usable public key: {exc}", field=where) from exc
    if public.alg != key["alg"]:
        raise InvalidArgument(f"the key is not an {key['alg']} key", field=f"{where}/alg")
    if key.get("kid") != thumbprint(dict(public.jwk)):
        raise InvalidArgument("kid must be the key's RFC 7638 thumbprint", field=f"{where}/kid")
    return {**public.jwk, "kid": key["kid"], "alg": key["alg"], "use": "sig"}
