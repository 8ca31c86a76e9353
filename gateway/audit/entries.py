"""What a leaf of the audit log says, byte for byte, and who is acting when state changes.

Every leaf is canonical bytes: UTF-8 JSON with sorted keys and no spaces, so anyone shown the
contents can recompute the leaf hash. Version 2 leaves carry ``salt``, 128 random bits, so a
leaf hash is a hiding commitment: the public hash reveals nothing about guessable contents
(partner ids, subjects, purposes, times), and only a reader shown the contents (the caller
and operators) can check them against it. Version 1 leaves (no salt) stay valid in old logs.

Three kinds of version 2 leaf:

- ``exchange``: one call of the API, as the transport saw it (``Exchange``);
- ``change``: one change of state, written in the transaction that makes the change, naming
  the actor, the way it came in, the records changed and what changed (``change_leaf``);
- ``summary``: counts of refusals that were not given a leaf each (an anonymous flood),
  written once per period (``summary_leaf``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ENTRY_VERSION = 2
SALT_BYTES = 16


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


def timestamp(at: datetime) -> str:
    """UTC with microseconds and a ``Z``, as every leaf writes its time."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Exchange:
    """What one call did, as its leaf records it."""

    operation: str
    transport: str
    partner: str  # the caller's partner id; "" when it was not established
    subject: tuple[str, ...]  # resource names and "SCHEME:VALUE" identifiers involved
    purpose: str
    consent: str
    request_sha256: str
    response_sha256: str
    decision: str  # "ok", or the problem type of the refusal
    rule_pack: str = ""

    def leaf(self, at: datetime, salt: str | None = None) -> bytes:
        """The canonical entry (written out by hand in key order: ``dataclasses.asdict`` and
        ``sort_keys`` were most of a leaf's cost on the hot path)."""
        document = {
            "consent": self.consent,
            "decision": self.decision,
            "kind": "exchange",
            "operation": self.operation,
            "partner": self.partner,
            "purpose": self.purpose,
            "request_sha256": self.request_sha256,
            "response_sha256": self.response_sha256,
            "rule_pack": self.rule_pack,
            "salt": new_salt() if salt is None else salt,
            "subject": list(self.subject),
            "time": timestamp(at),
            "transport": self.transport,
            "v": ENTRY_VERSION,
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


# -- who is acting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Whoever causes the changes made in this context: a partner through the API, an operator
    at the command line, or the gateway itself."""

    name: str  # "partners/{id}", "cli:{user}@{host}", "gateway"
    via: str  # how the change came in: "rest PublishProfile", "cli partners suspend", ...
    partner_id: str | None = None  # the partner whose leaves these are (who may read them)

    @classmethod
    def partner(cls, partner_id: str, via: str) -> Actor:
        return cls(f"partners/{partner_id}", via, partner_id)


_ACTOR: ContextVar[Actor | None] = ContextVar("cxg_actor", default=None)


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Changes of state made inside the block are attributed to ``actor``. Context variables
    follow a call into ``asyncio.to_thread`` and the web framework's thread pool."""
    token = _ACTOR.set(actor)
    try:
        yield actor
    finally:
        _ACTOR.reset(token)


def current_actor() -> Actor:
    """The actor of this context. Fails closed: a change of state with nobody accountable for
    it is a bug in the entry point that let it through, never an anonymous leaf."""
    actor = _ACTOR.get()
    if actor is None:
        raise RuntimeError("a change of state outside acting_as(): no actor to name in its leaf")
    return actor


def change_leaf(
    actor: Actor,
    change: str,
    subject: Sequence[str],
    detail: Mapping[str, Any],
    at: datetime,
) -> bytes:
    """The leaf of one change of state: ``change`` names what changed (``partner.status``),
    ``subject`` the records changed, ``detail`` the new values."""
    return canonical(
        {
            "actor": actor.name,
            "change": change,
            "detail": dict(detail),
            "kind": "change",
            "partner": actor.partner_id or "",
            "salt": new_salt(),
            "subject": list(subject),
            "time": timestamp(at),
            "v": ENTRY_VERSION,
            "via": actor.via,
        }
    )


def summary_leaf(
    counts: Sequence[Mapping[str, Any]], since: datetime, until: datetime, at: datetime
) -> bytes:
    """The leaf that stands for many refusals not logged one by one: each count names what was
    refused (source, operation, reason) and how often between ``since`` and ``until``."""
    return canonical(
        {
            "counts": [dict(count) for count in counts],
            "kind": "summary",
            "salt": new_salt(),
            "since": timestamp(since),
            "time": timestamp(at),
            "until": timestamp(until),
            "v": ENTRY_VERSION,
        }
    )
