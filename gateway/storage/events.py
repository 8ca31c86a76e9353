"""Security events in the database: subscriptions, the outbox, deliveries, and who received
which profile version (disclosures).

The outbox row of a change is written by ``emit`` inside the transaction that makes the change,
so a change without its event (or the reverse) cannot be committed. ``dispatch`` then fans
outbox rows out into one delivery per subscriber, in one transaction per batch that also marks
them dispatched: a process that dies mid-way leaves the batch to the next one, whole.

Deliveries are claimed with a lease (``lease_until``): a push deliverer or a poll holds a
delivery until then, and one that died leaves it to be claimed again when the lease runs out,
which is what makes delivery at least once. PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so
that several processes take different rows; SQLite's writers take turns anyway. A delivery is
claimable only when no earlier delivery of the same subscription about the same company is
still pending: a subscriber sees each company's events in order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    exists,
    false,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from gateway.storage.audit import ChangeLog
from gateway.storage.database import Database
from gateway.storage.tables import (
    event_deliveries,
    event_outbox,
    event_subscription_ids,
    event_subscriptions,
    peer_disclosures,
    peer_events,
    profile_disclosures,
    profile_identifiers,
    profile_versions,
)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
# What an outbox event says happened (its kind): a profile version was stored; an SCO code's
# status changed (its detail: the code, the previous and the current state); a dispute was
# filed or answered; a record was repaired (gateway/storage/corrections.py).
VERSION_PUBLISHED, SCO_STATUS_CHANGED = "version", "sco-status"
DISPUTE_CHANGED, RECORD_REPAIRED = "dispute", "repair"
# A peer gateway's SET about a company it holds, polled by this gateway and forwarded to the
# partners it relayed the company to (its detail: the peer, its purpose there, the SET, its
# events; ``profile_id`` is the peer's).
PEER_EVENT = "peer-event"
PUSH, POLL = "push", "poll"
# NOTICES: a subscription the gateway makes for a partner owed a notice (one per partner and
# purpose, polled), never one a partner asks for.
NAMED, RECEIVED, NOTICES = "named", "received", "notices"
# The event types (gateway/events/sets.py) of the notices owed whether subscribed or not.
NOTICE_TYPES = {DISPUTE_CHANGED: "dispute", RECORD_REPAIRED: "credit-repair"}
# The purpose of the notices owed to a dispute's filer and to the profile's publisher: they
# see the whole dispute (a dispute event names no profile data).
PARTY = "party"


@dataclass(frozen=True)
class Subscription:
    id: str
    partner_id: str
    purpose: str
    scope: str
    event_types: tuple[str, ...]
    delivery: str
    endpoint: str | None
    created_at: datetime
    ids: tuple[tuple[str, str], ...] = ()  # (scheme, value) of a named subscription


@dataclass(frozen=True)
class OutboxEvent:
    seq: int
    kind: str
    profile_id: str
    version: int
    detail: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class NewDelivery:
    jti: str
    subscription_id: str
    set_jws: str


@dataclass(frozen=True)
class Delivery:
    id: int
    jti: str
    subscription_id: str
    profile_id: str
    endpoint: str | None
    set_jws: str
    attempts: int
    created_at: datetime
    partner_id: str  # the subscriber
    purpose: str  # its subscription's
    last_error: str | None = None


# Builds the deliveries of one outbox event for its subscribers; given the event, those
# subscribers and the profile versions it reads (the previous and the new one, as stored).
FanOut = Callable[[OutboxEvent, Sequence[Subscription], "Versions"], list[NewDelivery]]


class Versions:
    """Profile versions read inside the dispatch transaction, as serialized CreditProfiles."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def load(self, profile_id: str, version: int) -> bytes | None:
        if version < 1:
            return None
        return self._conn.execute(
            select(profile_versions.c.profile_pb).where(
                profile_versions.c.profile_id == profile_id,
                profile_versions.c.version == version,
            )
        ).scalar()


def emit(conn: Connection, events: Sequence[OutboxEvent]) -> None:
    """Write outbox rows in ``conn``'s transaction: the change that causes them commits with
    them or not at all (their ``seq`` is assigned here, whatever they hold)."""
    if events:
        conn.execute(
            insert(event_outbox),
            [
                {
                    "kind": e.kind,
                    "profile_id": e.profile_id,
                    "version": e.version,
                    "detail": e.detail,
                    "occurred_at": e.occurred_at,
                }
                for e in events
            ],
        )


class EventStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._changes = ChangeLog(db)
        self._undispatched = (
            select(event_outbox.c.seq).where(event_outbox.c.dispatched_at.is_(None)).limit(1)
        )

    def relayed_from(self, peer: str, profile_id: str) -> bool:
        """Whether this gateway relayed a version of the peer's profile to a partner."""
        relayed = select(peer_disclosures.c.id).where(
            peer_disclosures.c.peer == peer, peer_disclosures.c.profile_id == profile_id
        )
        return bool(self._db.read(relayed.limit(1)))

    def take_peer_event(self, peer: str, key: str, event: OutboxEvent) -> bool:
        """A peer's SET into the outbox, once per ``key``: False when it was taken before."""
        try:
            with self._db.write() as conn:
                conn.execute(
                    insert(peer_events).values(peer=peer, digest=key, received_at=event.occurred_at)
                )
                emit(conn, [event])
        except IntegrityError:
            return False
        return True

    # -- subscriptions ------------------------------------------------------------------------

    def add_subscription(self, subscription: Subscription) -> None:
        with self._db.write() as conn:
            conn.execute(
                insert(event_subscriptions).values(
                    id=subscription.id,
                    partner_id=subscription.partner_id,
                    purpose=subscription.purpose,
                    scope=subscription.scope,
                    event_types=list(subscription.event_types),
                    delivery=subscription.delivery,
                    endpoint=subscription.endpoint,
                    created_at=subscription.created_at,
                )
            )
            if subscription.ids:
                conn.execute(
                    insert(event_subscription_ids),
                    [
                        {"subscription_id": subscription.id, "scheme": s, "value": v}
                        for s, v in subscription.ids
                    ],
                )
            self._changes.record(
                conn,
                "event.subscription.created",
                [f"subscriptions/{subscription.id}", f"partners/{subscription.partner_id}"],
                {
                    "scope": subscription.scope,
                    "eventTypes": list(subscription.event_types),
                    "delivery": subscription.delivery,
                    "endpoint": subscription.endpoint or "",
                    "purpose": subscription.purpose,
                    "ids": [f"{s}:{v}" for s, v in subscription.ids],
                },
            )

    def subscription(self, subscription_id: str) -> Subscription | None:
        rows = self._db.read(
            select(event_subscriptions).where(
                event_subscriptions.c.id == subscription_id,
                event_subscriptions.c.deleted_at.is_(None),
            )
        )
        if not rows:
            return None
        ids = self._db.read(
            select(event_subscription_ids.c.scheme, event_subscription_ids.c.value)
            .where(event_subscription_ids.c.subscription_id == subscription_id)
            .order_by(event_subscription_ids.c.scheme, event_subscription_ids.c.value)
        )
        return _subscription(rows[0], tuple((r.scheme, r.value) for r in ids))

    def subscriptions_of(self, partner_id: str) -> list[Subscription]:
        rows = self._db.read(
            select(event_subscriptions)
            .where(
                event_subscriptions.c.partner_id == partner_id,
                event_subscriptions.c.deleted_at.is_(None),
            )
            .order_by(event_subscriptions.c.created_at, event_subscriptions.c.id)
        )
        return [self.subscription(row.id) or _subscription(row, ()) for row in rows]

    def delete_subscription(self, subscription: Subscription, at: datetime) -> int:
        """End a subscription: its deliveries still pending are dropped with it (counted in
        its change's leaf). Returns how many were dropped."""
        with self._db.write() as conn:
            conn.execute(
                update(event_subscriptions)
                .where(event_subscriptions.c.id == subscription.id)
                .values(deleted_at=at)
            )
            dropped = conn.execute(
                update(event_deliveries)
                .where(
                    event_deliveries.c.subscription_id == subscription.id,
                    event_deliveries.c.state == PENDING,
                )
                .values(state=DEAD, last_error="subscription deleted")
            ).rowcount
            self._changes.record(
                conn,
                "event.subscription.deleted",
                [f"subscriptions/{subscription.id}", f"partners/{subscription.partner_id}"],
                {"pendingDropped": dropped},
            )
        return int(dropped)

    # -- fan-out ------------------------------------------------------------------------------

    def dispatch(self, fan_out: FanOut, limit: int, at: datetime) -> int:
        """Fan out up to ``limit`` undispatched outbox events, oldest first; how many."""
        if not self._db.read(self._undispatched):  # idle: no write lock taken (SQLite)
            return 0
        try:
            return self._dispatch(fan_out, limit, at)
        except IntegrityError:  # another process made the same notice subscription first
            return self._dispatch(fan_out, limit, at)

    def _dispatch(self, fan_out: FanOut, limit: int, at: datetime) -> int:
        with self._db.write() as conn:
            events = [
                _outbox(row)
                for row in conn.execute(
                    select(event_outbox)
                    .where(event_outbox.c.dispatched_at.is_(None))
                    .order_by(event_outbox.c.seq)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ]
            if not events:
                return 0
            versions = Versions(conn)
            rows: list[dict[str, Any]] = []
            for event in events:
                subscribers = _subscribers(conn, event)
                subscribers += _owed_notices(conn, self._changes, event, subscribers, at)
                for new in fan_out(event, subscribers, versions) if subscribers else []:
                    rows.append(
                        {
                            "jti": new.jti,
                            "subscription_id": new.subscription_id,
                            "seq": event.seq,
                            "profile_id": event.profile_id,
                            "set_jws": new.set_jws,
                            "state": PENDING,
                            "attempts": 0,
                            "next_attempt_at": at,
                            "created_at": at,
                        }
                    )
            if rows:
                conn.execute(insert(event_deliveries), rows)
            conn.execute(
                update(event_outbox)
                .where(event_outbox.c.seq.in_([e.seq for e in events]))
                .values(dispatched_at=at)
            )
        return len(events)

    # -- delivery -----------------------------------------------------------------------------

    def claim(
        self,
        at: datetime,
        lease: timedelta,
        limit: int,
        *,
        delivery: str = PUSH,
        partner_id: str | None = None,
    ) -> list[Delivery]:
        """Take up to ``limit`` deliveries that are due, each the oldest still pending of its
        subscription and company, leased until ``at + lease``."""
        earlier = aliased(event_deliveries)
        due = (
            select(*_DELIVERY_COLUMNS)
            .join(
                event_subscriptions,
                event_subscriptions.c.id == event_deliveries.c.subscription_id,
            )
            .where(
                event_deliveries.c.state == PENDING,
                event_deliveries.c.next_attempt_at <= at,
                or_(event_deliveries.c.lease_until.is_(None), event_deliveries.c.lease_until < at),
                event_subscriptions.c.delivery == delivery,
                ~exists().where(
                    earlier.c.subscription_id == event_deliveries.c.subscription_id,
                    earlier.c.profile_id == event_deliveries.c.profile_id,
                    earlier.c.seq < event_deliveries.c.seq,
                    earlier.c.state == PENDING,
                ),
            )
            .order_by(event_deliveries.c.id)
        )
        if partner_id is not None:
            due = due.where(event_subscriptions.c.partner_id == partner_id)
        if not self._db.read(due.with_only_columns(event_deliveries.c.id).limit(1)):
            return []  # nothing due: no write lock taken (SQLite)
        due = due.limit(limit).with_for_update(of=event_deliveries, skip_locked=True)
        with self._db.write() as conn:
            claimed = [_delivery(row) for row in conn.execute(due)]
            if claimed:
                conn.execute(
                    update(event_deliveries)
                    .where(event_deliveries.c.id.in_([d.id for d in claimed]))
                    .values(lease_until=at + lease)
                )
        return claimed

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        """Record what became of claimed deliveries, in one transaction."""
        if not outcomes:
            return
        with self._db.write() as conn:
            for outcome in outcomes:
                conn.execute(
                    update(event_deliveries)
                    .where(event_deliveries.c.id == outcome.id)
                    .values(**outcome.values())
                )

    def expire_polled(self, made_before: datetime) -> int:
        """Polled deliveries never acknowledged and made before ``made_before`` become dead
        letters (as a push delivery does after its horizon): an abandoned poll subscription
        does not keep its SETs forever. How many."""
        stale = (
            select(event_deliveries.c.id)
            .join(
                event_subscriptions,
                event_subscriptions.c.id == event_deliveries.c.subscription_id,
            )
            .where(
                event_subscriptions.c.delivery == POLL,
                event_deliveries.c.state == PENDING,
                event_deliveries.c.created_at < made_before,
            )
        )
        if not self._db.read(stale.limit(1)):
            return 0  # nothing stale: no write lock taken (SQLite)
        with self._db.write() as conn:
            return int(
                conn.execute(
                    update(event_deliveries)
                    .where(event_deliveries.c.id.in_(stale))
                    .values(state=DEAD, lease_until=None, last_error="never acknowledged by a poll")
                ).rowcount
            )

    def acknowledge(self, partner_id: str, jtis: Sequence[str], at: datetime) -> set[str]:
        """Mark the partner's polled deliveries ``jtis`` delivered; the jtis it holds."""
        if not jtis:
            return set()
        with self._db.write() as conn:
            found = {row.jti: row.id for row in conn.execute(self._owned_pending(partner_id, jtis))}
            if found:
                conn.execute(
                    update(event_deliveries)
                    .where(event_deliveries.c.id.in_(list(found.values())))
                    .values(state=DELIVERED, delivered_at=at, lease_until=None)
                )
        return set(found)

    def refuse(self, partner_id: str, errors: dict[str, str], at: datetime) -> set[str]:
        """The partner refused its polled deliveries ``errors`` (jti -> why): settled as dead
        letters with the reason, which operators can list and replay."""
        if not errors:
            return set()
        with self._db.write() as conn:
            found = {
                row.jti: row.id
                for row in conn.execute(self._owned_pending(partner_id, list(errors)))
            }
            for jti, delivery_id in found.items():
                conn.execute(
                    update(event_deliveries)
                    .where(event_deliveries.c.id == delivery_id)
                    .values(state=DEAD, lease_until=None, last_error=errors[jti])
                )
        return set(found)

    def has_pending(self, partner_id: str, delivery: str, at: datetime) -> bool:
        """Whether deliveries of the partner's subscriptions are still to come, not leased
        (a poll's moreAvailable)."""
        rows = self._db.read(
            select(event_deliveries.c.id)
            .join(
                event_subscriptions,
                event_subscriptions.c.id == event_deliveries.c.subscription_id,
            )
            .where(
                event_subscriptions.c.partner_id == partner_id,
                event_subscriptions.c.delivery == delivery,
                event_deliveries.c.state == PENDING,
                or_(event_deliveries.c.lease_until.is_(None), event_deliveries.c.lease_until < at),
            )
            .limit(1)
        )
        return bool(rows)

    @staticmethod
    def _owned_pending(partner_id: str, jtis: Sequence[str]) -> Any:
        """The partner's pending deliveries among ``jtis`` (another's are never touched)."""
        return (
            select(event_deliveries.c.id, event_deliveries.c.jti)
            .join(
                event_subscriptions,
                event_subscriptions.c.id == event_deliveries.c.subscription_id,
            )
            .where(
                event_deliveries.c.jti.in_(list(jtis)),
                event_subscriptions.c.partner_id == partner_id,
                event_deliveries.c.state == PENDING,
            )
        )

    # -- operators ----------------------------------------------------------------------------

    def dead_letters(self, limit: int, after: int = 0) -> list[Delivery]:
        rows = self._db.read(
            select(*_DELIVERY_COLUMNS)
            .join(
                event_subscriptions,
                event_subscriptions.c.id == event_deliveries.c.subscription_id,
            )
            .where(
                event_deliveries.c.state == DEAD,
                event_deliveries.c.id > after,
                event_subscriptions.c.deleted_at.is_(None),
            )
            .order_by(event_deliveries.c.id)
            .limit(limit)
        )
        return [_delivery(row) for row in rows]

    def replay(self, jtis: Sequence[str], at: datetime) -> list[str]:
        """Put dead deliveries (of live subscriptions) back to pending, due now, with a fresh
        horizon; the jtis replayed. The operator's change is one audit leaf."""
        live = select(event_subscriptions.c.id).where(event_subscriptions.c.deleted_at.is_(None))
        with self._db.write() as conn:
            found = [
                row.jti
                for row in conn.execute(
                    select(event_deliveries.c.jti).where(
                        event_deliveries.c.jti.in_(list(jtis)),
                        event_deliveries.c.state == DEAD,
                        event_deliveries.c.subscription_id.in_(live),
                    )
                )
            ]
            if found:
                conn.execute(
                    update(event_deliveries)
                    .where(event_deliveries.c.jti.in_(found))
                    .values(
                        state=PENDING,
                        attempts=0,
                        next_attempt_at=at,
                        created_at=at,
                        lease_until=None,
                        last_error=None,
                    )
                )
                self._changes.record(
                    conn, "event.deliveries.replayed", [f"events/{j}" for j in found], {}
                )
        return found


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery: delivered, to be retried at ``retry_at``, or dead."""

    id: int
    state: str
    at: datetime
    attempts: int
    error: str | None = None
    retry_at: datetime | None = None

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "state": self.state,
            "attempts": self.attempts,
            "lease_until": None,
            "last_error": self.error[:512] if self.error else None,
        }
        if self.state == DELIVERED:
            values["delivered_at"] = self.at
        if self.retry_at is not None:
            values["next_attempt_at"] = self.retry_at
        return values


def _subscribers(conn: Connection, event: OutboxEvent) -> list[Subscription]:
    """The live subscriptions an event concerns: those naming one of the company's identifiers,
    and those of partners that have received the company's profile; both subscribed before
    the event happened."""
    named: ColumnElement[bool] = exists().where(
        event_subscription_ids.c.subscription_id == event_subscriptions.c.id,
        profile_identifiers.c.scheme == event_subscription_ids.c.scheme,
        profile_identifiers.c.value == event_subscription_ids.c.value,
        profile_identifiers.c.profile_id == event.profile_id,
    )
    received: ColumnElement[bool] = exists().where(
        profile_disclosures.c.partner_id == event_subscriptions.c.partner_id,
        profile_disclosures.c.profile_id == event.profile_id,
    )
    if event.kind == PEER_EVENT:
        # The partners the peer's version was relayed to, subscribed with the purpose whose
        # view the peer's SET shows; a peer's company is named by no subscription here.
        received = exists().where(
            peer_disclosures.c.peer == event.detail["peer"],
            peer_disclosures.c.profile_id == event.profile_id,
            peer_disclosures.c.partner_id == event_subscriptions.c.partner_id,
        ) & (event_subscriptions.c.purpose == event.detail["purpose"])
        named = false()
    rows = conn.execute(
        select(event_subscriptions)
        .where(
            event_subscriptions.c.deleted_at.is_(None),
            event_subscriptions.c.created_at <= event.occurred_at,
            or_(
                and_(event_subscriptions.c.scope == NAMED, named),
                and_(event_subscriptions.c.scope == RECEIVED, received),
            ),
        )
        .order_by(event_subscriptions.c.id)
    )
    return [_subscription(row, ()) for row in rows]


def _owed_notices(
    conn: Connection,
    changes: ChangeLog,
    event: OutboxEvent,
    subscribers: Sequence[Subscription],
    at: datetime,
) -> list[Subscription]:
    """The notice subscriptions (made now if need be) of the partners an event must reach
    whether they subscribed or not: those its detail names (``notifyPartners``: a dispute's
    filer and publisher) and those that received the profile (``notify``: since when, from
    which version on), unless a subscription of theirs already takes the event's type."""
    event_type = NOTICE_TYPES.get(event.kind)
    if event_type is None:
        return []
    owed = dict.fromkeys(event.detail.get("notifyPartners", []), PARTY)
    notify = event.detail.get("notify")
    if notify:
        since = datetime.fromisoformat(notify["since"])
        for partner, purpose in _recipients(conn, event.profile_id, since, notify["fromVersion"]):
            owed.setdefault(partner, purpose)
    for subscription in subscribers:
        if event_type in subscription.event_types:
            owed.pop(subscription.partner_id, None)
    return [
        _notice_subscription(conn, changes, partner, purpose, at)
        for partner, purpose in owed.items()
    ]


def _recipients(
    conn: Connection, profile_id: str, since: datetime, from_version: int
) -> list[tuple[str, str]]:
    """(partner, purpose) of each partner that received a version from ``from_version`` on of
    the profile since ``since``: of a partner's purposes, the one it used last."""
    rows = conn.execute(
        select(profile_disclosures.c.partner_id, profile_disclosures.c.purpose)
        .where(
            profile_disclosures.c.profile_id == profile_id,
            profile_disclosures.c.disclosed_at >= since,
            profile_disclosures.c.version >= from_version,
        )
        .order_by(profile_disclosures.c.id)
    )
    return list({row.partner_id: row.purpose for row in rows}.items())


def _notice_subscription(
    conn: Connection, changes: ChangeLog, partner: str, purpose: str, at: datetime
) -> Subscription:
    """The partner's notice subscription for ``purpose``: made (an audited change of the
    gateway's own) the first time it is owed a notice."""
    row = conn.execute(
        select(event_subscriptions).where(
            event_subscriptions.c.partner_id == partner,
            event_subscriptions.c.scope == NOTICES,
            event_subscriptions.c.purpose == purpose,
            event_subscriptions.c.deleted_at.is_(None),
        )
    ).first()
    if row is not None:
        return _subscription(row, ())
    made = Subscription(
        # One per partner and purpose: two processes making it at once collide on this key,
        # and the loser's dispatch runs again and finds the winner's.
        id=hashlib.sha256(f"{NOTICES}\n{partner}\n{purpose}".encode()).hexdigest()[:32],
        partner_id=partner,
        purpose=purpose,
        scope=NOTICES,
        event_types=tuple(NOTICE_TYPES.values()),
        delivery=POLL,
        endpoint=None,
        created_at=at,
    )
    conn.execute(
        insert(event_subscriptions).values(
            id=made.id,
            partner_id=partner,
            purpose=purpose,
            scope=NOTICES,
            event_types=list(made.event_types),
            delivery=POLL,
            endpoint=None,
            created_at=at,
        )
    )
    changes.record(
        conn,
        "event.subscription.created",
        [f"subscriptions/{made.id}", f"partners/{partner}"],
        {"scope": NOTICES, "eventTypes": list(made.event_types), "purpose": purpose},
    )
    return made


# A delivery as claimed or listed: its row and its subscription's (the two joined).
_DELIVERY_COLUMNS = (
    event_deliveries.c.id,
    event_deliveries.c.jti,
    event_deliveries.c.subscription_id,
    event_deliveries.c.profile_id,
    event_deliveries.c.set_jws,
    event_deliveries.c.attempts,
    event_deliveries.c.created_at,
    event_deliveries.c.last_error,
    event_subscriptions.c.endpoint,
    event_subscriptions.c.partner_id,
    event_subscriptions.c.purpose,
)


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        jti=row.jti,
        subscription_id=row.subscription_id,
        profile_id=row.profile_id,
        endpoint=row.endpoint,
        set_jws=row.set_jws,
        attempts=row.attempts,
        created_at=row.created_at,
        partner_id=row.partner_id,
        purpose=row.purpose,
        last_error=row.last_error,
    )


def _subscription(row: Any, ids: tuple[tuple[str, str], ...]) -> Subscription:
    return Subscription(
        id=row.id,
        partner_id=row.partner_id,
        purpose=row.purpose,
        scope=row.scope,
        event_types=tuple(row.event_types),
        delivery=row.delivery,
        endpoint=row.endpoint,
        created_at=row.created_at,
        ids=ids,
    )


def _outbox(row: Any) -> OutboxEvent:
    return OutboxEvent(
        seq=row.seq,
        kind=row.kind,
        profile_id=row.profile_id,
        version=row.version,
        detail=dict(row.detail),
        occurred_at=row.occurred_at,
    )
