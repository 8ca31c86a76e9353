"""Security Event Tokens (RFC 8417) about companies: the event types a partner subscribes to,
what changed between two versions of a profile as one view shows it, and the SET's claims.

A SET says no more than the subscriber's purpose may see: the changes are computed between the
two versions *as minimized for that purpose's view* (``gateway.trust.policy.minimize``), so a
grade change never reaches a subscriber whose view has no grade, and a record outside the view
is never named. One published version is one SET per subscriber: its ``events`` claim holds the
``profile-version`` event and, alongside, each kind of change that version made (RFC 8417
section 2.2 allows several events that describe one logical event).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from gateway.errors import InvalidArgument
from gateway.schema.cxg.v1.profile_pb2 import (
    AeoState,
    CreditProfile,
    DisputeState,
    PublicRecord,
    PublicRecordKind,
    RepairState,
)

SET_TYP = "secevent+jwt"
URI_PREFIX = "urn:cxg:secevent:"

# The event types a subscription names (slugs), in the order a SET lists them.
PROFILE_VERSION = "profile-version"
AEO_STATUS = "aeo-status"
COMMON_GRADE = "common-grade"
PUBLIC_RECORD = "public-record"
SCO_STATUS = "sco-status"
DISPUTE = "dispute"
CREDIT_REPAIR = "credit-repair"
EVENT_TYPES = (
    PROFILE_VERSION,
    AEO_STATUS,
    COMMON_GRADE,
    PUBLIC_RECORD,
    SCO_STATUS,
    DISPUTE,
    CREDIT_REPAIR,
)


# Beside the events of a peer gateway's SET this gateway forwards: the peer and its SET.
PEER_SET_URI = URI_PREFIX + "peer-set"


def uri(event_type: str) -> str:
    """The event's URI in a SET's ``events`` claim."""
    return URI_PREFIX + event_type


def event_types(names: Sequence[str], field: str = "event_types") -> tuple[str, ...]:
    """The subscription's event types, checked; none given means all of them."""
    unknown = [name for name in names if name not in EVENT_TYPES]
    if unknown:
        raise InvalidArgument(
            f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}", field=field
        )
    return tuple(t for t in EVENT_TYPES if t in names) if names else EVENT_TYPES


def version_events(
    previous: CreditProfile | None, current: CreditProfile, wanted: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The events of a new version (``current``) over the one before it, both already
    minimized for the subscriber's view; only the types in ``wanted``. Empty when nothing the
    subscriber wants changed in what it may see."""
    wanted = set(wanted)
    name = current.name
    changes: dict[str, dict[str, Any]] = {}
    if AEO_STATUS in wanted and (aeo := _aeo_changes(previous, current)):
        changes[AEO_STATUS] = {"changes": aeo}
    if COMMON_GRADE in wanted and (grade := _grade_change(previous, current)):
        changes[COMMON_GRADE] = grade
    if PUBLIC_RECORD in wanted and (records := _record_changes(previous, current)):
        changes[PUBLIC_RECORD] = {"changes": records}
    if PROFILE_VERSION not in wanted and not changes:
        return {}
    events = {
        PROFILE_VERSION: {
            "profile": name,
            "version": f"{name}/versions/{current.version}",
            "ids": [f"{i.scheme}:{i.value}" for i in current.subject.ids],
            **({"previousVersion": f"{name}/versions/{previous.version}"} if previous else {}),
        }
    }
    events.update(changes)
    return {uri(kind): body for kind, body in events.items()}


def claims(
    *,
    issuer: str,
    audience: str,
    profile_name: str,
    events: dict[str, dict[str, Any]],
    issued: int,
    happened: int,
) -> dict[str, Any]:
    """A SET's claims: a fresh ``jti``, the subscriber as ``aud``, the company as an opaque
    subject identifier (RFC 9493), when it was made (``iat``) and when the change happened
    (``toe``, RFC 8417 section 2.2), and the events."""
    return {
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "toe": happened,
        "jti": secrets.token_hex(16),
        "sub_id": {"format": "opaque", "id": profile_name},
        "events": events,
    }


def _aeo_changes(previous: CreditProfile | None, current: CreditProfile) -> list[dict[str, str]]:
    before = {_aeo_key(a): a.status for a in previous.aeo} if previous else {}
    after = {_aeo_key(a): a.status for a in current.aeo}
    found = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was != now:
            found.append(
                {
                    "programCountry": key[0],
                    "authorisationNumber": key[1],
                    "previous": AeoState.Name(was) if was is not None else "",
                    "current": AeoState.Name(now) if now is not None else "",
                }
            )
    return found


def _aeo_key(aeo: Any) -> tuple[str, str]:
    return aeo.program_country, aeo.authorisation_number


def _grade_change(previous: CreditProfile | None, current: CreditProfile) -> dict[str, Any]:
    was = _grade(previous) if previous else None
    now = _grade(current)
    if was == now:
        return {}
    return {"previous": was or {}, "current": now or {}}


def _grade(profile: CreditProfile) -> dict[str, Any] | None:
    if not profile.HasField("common_grade"):
        return None
    grade = profile.common_grade
    return {"bucket": grade.bucket, "ordinal": grade.ordinal}


def _record_changes(previous: CreditProfile | None, current: CreditProfile) -> list[dict[str, str]]:
    """Records added, removed, or whose dispute or repair state moved, named by kind and
    decision number (what the authority wrote), never by their summaries."""
    before = {_record_key(r): r for r in previous.public_records} if previous else {}
    after = {_record_key(r): r for r in current.public_records}
    found = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was is None:
            change = "added"
        elif now is None:
            change = "removed"
        elif (was.repair_state, was.dispute_state) != (now.repair_state, now.dispute_state):
            change = "state"
        else:
            continue
        shown = now if now is not None else was
        assert shown is not None
        found.append(
            {
                "change": change,
                "kind": PublicRecordKind.Name(shown.kind),
                "decisionNumber": shown.decision_number,
                "decisionDate": shown.decision_date,
                "repairState": RepairState.Name(shown.repair_state),
                "disputeState": DisputeState.Name(shown.dispute_state),
            }
        )
    return found


def _record_key(record: PublicRecord) -> tuple[int, str, str]:
    return record.kind, record.decision_number, record.decision_date
