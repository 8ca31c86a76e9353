"""Security events as partners and operators use them: subscriptions, polling (RFC 8936), dead
letters; and the fan-out of outbox events into one SET per subscriber, signed with the
gateway's key. Push delivery (RFC 8935) runs in ``gateway/service/delivery.py``.

A SET carries what changed as the subscriber's purpose may see it: the two versions are
minimized for that purpose's view before they are compared (``gateway/events/sets.py``).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from gateway.config import Settings
from gateway.errors import InvalidArgument, NotFound, PermissionDenied
from gateway.events import sets
from gateway.events.endpoints import EndpointPolicy
from gateway.identifiers import normalize_scheme, validate
from gateway.schema.cxg.v1 import event_service_pb2 as pb
from gateway.schema.cxg.v1.profile_pb2 import CreditProfile, PublicRecordKind
from gateway.service._paging import decode_token, encode_token, page_size
from gateway.service.offload import Offload
from gateway.signing import KeyRing
from gateway.storage import Database
from gateway.storage.events import (
    DISPUTE_CHANGED,
    NAMED,
    NOTICES,
    PARTY,
    PEER_EVENT,
    POLL,
    PUSH,
    RECEIVED,
    RECORD_REPAIRED,
    SCO_STATUS_CHANGED,
    VERSION_PUBLISHED,
    Delivery,
    EventStore,
    NewDelivery,
    OutboxEvent,
    Subscription,
    Versions,
)
from gateway.trust import Partner
from gateway.trust.policy import CUSTOMS, FULL, PURPOSES, minimize, purpose_for

_SUBSCRIPTION = re.compile(r"subscriptions/([0-9a-f]{32})")
_JTI = re.compile(r"[0-9a-f]{32}")
_ROW = re.compile(r"[0-9]{1,19}")
_DEAD_PAGES = "dead-events"
MAX_IDS = 1000
MAX_POLL_EVENTS = 1000
POLL_PAGE = 100  # SETs a poll returns when it does not say how many
POLL_LEASE = timedelta(seconds=60)  # a polled SET not acknowledged within this comes again
# A kind of outbox event's SETs: the events to send, given a subscription's types and view.
_Events = Callable[[Sequence[str], str], dict[str, dict[str, Any]]]
_SCOPES = {pb.SUBSCRIPTION_SCOPE_NAMED: NAMED, pb.SUBSCRIPTION_SCOPE_RECEIVED: RECEIVED}
_SCOPE_SHOWN = _SCOPES | {pb.SUBSCRIPTION_SCOPE_NOTICES: NOTICES}
_DELIVERIES = {pb.EVENT_DELIVERY_PUSH: PUSH, pb.EVENT_DELIVERY_POLL: POLL}


class EventService:
    def __init__(
        self,
        store: EventStore,
        keyring: KeyRing,
        *,
        issuer: str,
        endpoints: EndpointPolicy,
        poll_wait: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._poll_wait = poll_wait
        self._keyring = keyring
        self._issuer = issuer
        self.endpoints = endpoints
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, keyring: KeyRing) -> EventService:
        return cls(
            EventStore(db),
            keyring,
            issuer=settings.gateway_id,
            endpoints=EndpointPolicy.from_strings(
                allow_http=settings.events_allow_http == "yes",
                allowed_networks=settings.events_allowed_networks,
            ),
            poll_wait=settings.events_poll_wait_seconds,
        )

    # -- subscriptions --------------------------------------------------------------------------

    def create_subscription(
        self, caller: Partner, request: pb.CreateSubscriptionRequest
    ) -> pb.EventSubscription:
        scope = _SCOPES.get(request.scope)
        if scope is None:
            raise InvalidArgument("scope must be NAMED or RECEIVED", field="scope")
        ids = _ids(request) if scope == NAMED else ()
        if scope == RECEIVED and request.ids:
            raise InvalidArgument("a RECEIVED subscription names no ids", field="ids")
        purpose = purpose_for(caller, request.purpose)
        if purpose.needs_consent:
            raise InvalidArgument(
                f"purpose {purpose.name!r} needs the subject's consent, which a subscription"
                " cannot cite; subscribe with a purpose that needs none",
                field="purpose",
            )
        types = sets.event_types(list(request.event_types))
        delivery = _DELIVERIES.get(request.delivery)
        if delivery is None:
            raise InvalidArgument("delivery must be PUSH or POLL", field="delivery")
        endpoint = None
        if delivery == PUSH:
            if not request.endpoint:
                raise InvalidArgument("a PUSH subscription needs an endpoint", field="endpoint")
            endpoint = self.endpoints.check_url(request.endpoint).url
        elif request.endpoint:
            raise InvalidArgument("a POLL subscription has no endpoint", field="endpoint")
        subscription = Subscription(
            id=uuid.uuid4().hex,
            partner_id=caller.id,
            purpose=purpose.name,
            scope=scope,
            event_types=types,
            delivery=delivery,
            endpoint=endpoint,
            created_at=self._clock(),
            ids=ids,
        )
        self._store.add_subscription(subscription)
        return _message(subscription)

    def list_subscriptions(
        self, caller: Partner, request: pb.ListSubscriptionsRequest
    ) -> pb.ListSubscriptionsResponse:
        return pb.ListSubscriptionsResponse(
            subscriptions=[_message(s) for s in self._store.subscriptions_of(caller.id)]
        )

    def get_subscription(
        self, caller: Partner, request: pb.GetSubscriptionRequest
    ) -> pb.EventSubscription:
        return _message(self._owned(caller, request.name))

    def delete_subscription(
        self, caller: Partner, request: pb.DeleteSubscriptionRequest
    ) -> pb.EventSubscription:
        subscription = self._owned(caller, request.name)
        if subscription.scope == NOTICES:
            raise PermissionDenied(
                "notices of disputes and repairs are owed to every recipient whether it"
                " subscribed or not: poll and acknowledge them instead",
                field="name",
            )
        self._store.delete_subscription(subscription, self._clock())
        return _message(subscription)

    def _owned(self, caller: Partner, name: str) -> Subscription:
        match = _SUBSCRIPTION.fullmatch(name)
        if match is None:
            raise InvalidArgument(
                "name must be subscriptions/ and 32 lower-case hex digits", field="name"
            )
        subscription = self._store.subscription(match[1])
        # Another partner's subscription is as absent as one that never existed.
        if subscription is None or subscription.partner_id != caller.id:
            raise NotFound(f"no subscription {name}")
        return subscription

    # -- polling (RFC 8936) ---------------------------------------------------------------------

    def poll(self, caller: Partner, request: pb.PollEventsRequest) -> pb.PollEventsResponse:
        """Acknowledge, note refusals, then lease the next SETs to the caller."""
        wanted = POLL_PAGE if not request.HasField("max_events") else request.max_events
        if not 0 <= wanted <= MAX_POLL_EVENTS:
            raise InvalidArgument(
                f"max_events must be from 0 to {MAX_POLL_EVENTS}", field="max_events"
            )
        for name, given in (("ack", len(request.ack)), ("set_errs", len(request.set_errs))):
            if given > MAX_POLL_EVENTS:  # what one poll may hand over, and one query may name
                raise InvalidArgument(
                    f"at most {MAX_POLL_EVENTS} jtis per poll; send the rest in the next",
                    field=name,
                )
        for i, jti in enumerate(request.ack):
            if not _JTI.fullmatch(jti):
                raise InvalidArgument("a jti is 32 lower-case hex digits", field=f"ack[{i}]")
        for jti in request.set_errs:
            if not _JTI.fullmatch(jti):
                raise InvalidArgument("a jti is 32 lower-case hex digits", field=f"set_errs[{jti}]")
        self.dispatch()  # what was committed before this poll is among what it may return
        now = self._clock()
        self._store.acknowledge(caller.id, list(request.ack), now)
        if request.set_errs:
            # The subscriber refused these SETs: they are settled, as dead letters with why.
            self._store.refuse(
                caller.id,
                {jti: f"{e.err}: {e.description}"[:512] for jti, e in request.set_errs.items()},
                now,
            )
        claimed = (
            self._store.claim(now, POLL_LEASE, wanted, delivery=POLL, partner_id=caller.id)
            if wanted
            else []
        )
        more = self._store.has_pending(caller.id, POLL, now)
        return pb.PollEventsResponse(sets={d.jti: d.set_jws for d in claimed}, more_available=more)

    async def poll_waiting(
        self, offload: Offload, caller: Partner, request: pb.PollEventsRequest
    ) -> pb.PollEventsResponse:
        """``poll`` from an event loop; without ``returnImmediately`` a poll that finds no SET
        looks again for a while (RFC 8936 section 2.4's long poll)."""
        answer = await offload.run(self.poll, caller, request)
        deadline = asyncio.get_running_loop().time() + self._poll_wait
        again = pb.PollEventsRequest(
            max_events=request.max_events if request.HasField("max_events") else POLL_PAGE,
            return_immediately=True,
        )
        while (
            not answer.sets
            and not request.return_immediately
            and again.max_events
            and asyncio.get_running_loop().time() < deadline
        ):
            await asyncio.sleep(0.25)
            answer = await offload.run(self.poll, caller, again)
        return answer

    # -- operators ------------------------------------------------------------------------------

    def list_dead(self, request: pb.ListDeadEventsRequest) -> pb.ListDeadEventsResponse:
        size = page_size(request.page_size, default=100, maximum=1000)
        after = 0
        if request.page_token:
            after = int(decode_token(request.page_token, _DEAD_PAGES, _ROW)[0])
        dead = self._store.dead_letters(size + 1, after)
        shown = dead[:size]
        more = len(dead) > size
        return pb.ListDeadEventsResponse(
            events=[_dead(d) for d in shown],
            next_page_token=encode_token(_DEAD_PAGES, str(shown[-1].id)) if more else "",
        )

    def replay(self, request: pb.ReplayEventsRequest) -> pb.ReplayEventsResponse:
        if not 1 <= len(request.jtis) <= 1000:
            raise InvalidArgument("name 1 to 1000 jtis", field="jtis")
        for i, jti in enumerate(request.jtis):
            if not _JTI.fullmatch(jti):
                raise InvalidArgument("a jti is 32 lower-case hex digits", field=f"jtis[{i}]")
        return pb.ReplayEventsResponse(
            replayed=self._store.replay(list(request.jtis), self._clock())
        )

    # -- fan-out --------------------------------------------------------------------------------

    def dispatch(self, limit: int = 100) -> int:
        """Fan the oldest undispatched outbox events out into signed SETs; how many events."""
        return self._store.dispatch(self._fan_out, limit, self._clock())

    def _fan_out(
        self, event: OutboxEvent, subscribers: Sequence[Subscription], versions: Versions
    ) -> list[NewDelivery]:
        profile_name = f"profiles/{event.profile_id}"
        if event.kind == PEER_EVENT:
            profile_name = f"peers/{event.detail['peer']}/{profile_name}"
            what = _peer_events(event)
        elif event.kind == VERSION_PUBLISHED:
            what = self._version_events(event, versions)
        elif event.kind == SCO_STATUS_CHANGED:
            what = self._sco_events(event)
        elif event.kind == DISPUTE_CHANGED:
            what = _dispute_events(event)
        elif event.kind == RECORD_REPAIRED:
            what = _repair_events(event)
        else:
            raise ValueError(f"an outbox event of unknown kind {event.kind!r}")
        happened, issued = int(event.occurred_at.timestamp()), int(self._clock().timestamp())
        made = []
        for subscription in subscribers:
            view = FULL if subscription.purpose == PARTY else PURPOSES[subscription.purpose].view
            events = what(subscription.event_types, view)
            if not events:
                continue
            claims = sets.claims(
                issuer=self._issuer,
                audience=subscription.partner_id,
                profile_name=profile_name,
                events=events,
                issued=issued,
                happened=happened,
            )
            jws = self._keyring.active.sign_jwt(claims, {"typ": sets.SET_TYP})
            made.append(NewDelivery(claims["jti"], subscription.id, jws))
        return made

    @staticmethod
    def _sco_events(event: OutboxEvent) -> _Events:
        """The event of an SCO code's new status; a status is public, so every view sees it."""
        detail = dict(event.detail)

        def events(types: Sequence[str], view: str) -> dict[str, dict[str, Any]]:
            return {sets.uri(sets.SCO_STATUS): detail} if sets.SCO_STATUS in types else {}

        return events

    @staticmethod
    def _version_events(event: OutboxEvent, versions: Versions) -> _Events:
        """The events of a new version for a subscriber's types and view."""
        current_pb = versions.load(event.profile_id, event.version)
        if current_pb is None:  # cannot happen: the version commits with its event
            raise ValueError(f"no version {event.version} of profiles/{event.profile_id}")
        current = CreditProfile.FromString(current_pb)
        before = versions.load(event.profile_id, event.version - 1)
        previous = CreditProfile.FromString(before) if before is not None else None

        def events(types: Sequence[str], view: str) -> dict[str, dict[str, Any]]:
            return sets.version_events(
                minimize(previous, view) if previous is not None else None,
                minimize(current, view),
                types,
            )

        return events

    # -- push delivery's storage side (gateway/service/delivery.py) -----------------------------

    def claim_push(self, lease: timedelta, limit: int) -> list[Delivery]:
        return self._store.claim(self._clock(), lease, limit, delivery=PUSH)

    @property
    def store(self) -> EventStore:
        return self._store

    def now(self) -> datetime:
        return self._clock()


def _peer_events(event: OutboxEvent) -> _Events:
    """A peer's SET forwarded: its events of the types subscribed to, and the SET itself, which
    the partner verifies with the peer's keys (its federation document)."""
    inner: dict[str, dict[str, Any]] = event.detail["events"]
    relayed = {"peer": event.detail["peer"], "set": event.detail["set"]}

    def events(types: Sequence[str], view: str) -> dict[str, dict[str, Any]]:
        wanted = {sets.uri(t) for t in types}
        found = {uri: body for uri, body in inner.items() if uri in wanted}
        return found | {sets.PEER_SET_URI: relayed} if found else {}

    return events


def _dispute_events(event: OutboxEvent) -> _Events:
    """A dispute filed or answered: which one, on which version, its state and due date (no
    profile data, so every view may see it)."""
    name = f"profiles/{event.profile_id}"
    body = {
        "dispute": event.detail["dispute"],
        "version": f"{name}/versions/{event.version}",
        "state": event.detail["state"],
        "dueDate": event.detail["dueDate"],
    }

    def events(types: Sequence[str], view: str) -> dict[str, dict[str, Any]]:
        return {sets.uri(sets.DISPUTE): body} if sets.DISPUTE in types else {}

    return events


def _repair_events(event: OutboxEvent) -> _Events:
    """A record repaired: sent only to views that showed the record (the full view; the
    customs view for a customs authority's record)."""
    name = f"profiles/{event.profile_id}"
    detail = event.detail
    body = {
        "version": f"{name}/versions/{event.version}",
        "record": detail["record"] | {"kind": PublicRecordKind.Name(detail["record"]["kind"])},
        "repairDate": detail["repairDate"],
        "repairAuthority": detail["repairAuthority"],
        "repairDecisionNumber": detail["repairDecisionNumber"],
    }
    shown_in = {FULL, CUSTOMS} if detail["customsRecord"] else {FULL}

    def events(types: Sequence[str], view: str) -> dict[str, dict[str, Any]]:
        if sets.CREDIT_REPAIR not in types or view not in shown_in:
            return {}
        return {sets.uri(sets.CREDIT_REPAIR): body}

    return events


def _ids(request: pb.CreateSubscriptionRequest) -> tuple[tuple[str, str], ...]:
    if not 1 <= len(request.ids) <= MAX_IDS:
        raise InvalidArgument(f"a NAMED subscription names 1 to {MAX_IDS} ids", field="ids")
    found = []
    for i, entity in enumerate(request.ids):
        field = f"ids[{i}]"
        if not entity.scheme:
            raise InvalidArgument("scheme is required", field=f"{field}.scheme")
        scheme = normalize_scheme(entity.scheme, field=f"{field}.scheme")
        valid = validate(scheme, entity.value, field=f"{field}.value")
        found.append((valid.scheme, valid.value))
    return tuple(dict.fromkeys(found))


def _message(subscription: Subscription) -> pb.EventSubscription:
    created = Timestamp()
    created.FromDatetime(subscription.created_at)
    message = pb.EventSubscription(
        name=f"subscriptions/{subscription.id}",
        scope=next(k for k, v in _SCOPE_SHOWN.items() if v == subscription.scope),
        event_types=list(subscription.event_types),
        purpose=subscription.purpose,
        delivery=next(k for k, v in _DELIVERIES.items() if v == subscription.delivery),
        endpoint=subscription.endpoint or "",
        create_time=created,
    )
    for scheme, value in subscription.ids:
        message.ids.add(scheme=scheme, value=value)
    return message


def _dead(delivery: Delivery) -> pb.DeadEvent:
    created = Timestamp()
    created.FromDatetime(delivery.created_at)
    return pb.DeadEvent(
        jti=delivery.jti,
        subscription=f"subscriptions/{delivery.subscription_id}",
        profile=f"profiles/{delivery.profile_id}",
        endpoint=delivery.endpoint or "",
        attempts=delivery.attempts,
        last_error=delivery.last_error or "",
        create_time=created,
    )
