"""Federation use cases: this gateway's signed federation document; registering peers (other
countries' gateways); following each peer's document (its key rotations and revocations) and
witnessing its audit log; the peers' SCO issuer keys on this gateway's trust list; a peer's
checkpoint as this gateway witnessed it.

Every process refreshes every active peer each ``CXG_FEDERATION_REFRESH_SECONDS``, on a
thread of its own (nothing a request waits for): fetch the document from the registered URL,
verify it with the pinned keys, accept it (its keys become the pinned ones and the peer's
registered keys), then fetch the peer's latest checkpoint, check it against the last one
witnessed (a consistency proof for a larger one) and co-sign it with this gateway's checkpoint
key. What cannot be explained (two roots for one size, a tree that shrank or whose proof fails,
a document older than one accepted) is an alarm: both signed texts kept as evidence
(``cxg peers alarms``), an audit leaf, ``cxg_peer_alarms_total`` and an ERROR log line; the
witness does not move past it. A peer that cannot be reached keeps its last accepted document
until that document's ``nextUpdate``; after it, its keys are off the trust list (fail closed).

Each refresh also fetches the peer's SCO status list, and hands this gateway's co-signature to
the peer when the peer registered this gateway (``local_id``). Both, and relayed lookups, go as
the partner the peer registered this gateway as: a DPoP-bound token bought with a client
assertion of this gateway's active key, over mutual TLS where configured.

Relaying: a GetProfile by an identifier the operator's routing table sends to a peer (or by a
peer's profile name), a RecognizeAeo about an authorisation of a routed country and a search by
a routed peer's country are answered by the peer, asked with a signed on-behalf-of claim naming
the partner; its signed answer is relayed unchanged once it verifies with the peer's pinned
keys. For purposes whose policy allows it, answers are kept a while (and served stale while the
peer is down).

Events across borders (``poll_events``, on the same thread every
``CXG_FEDERATION_EVENTS_SECONDS``): this gateway subscribes at each peer to the companies it
received, polls the peer's SETs, and forwards each, verified, to the partners here it relayed
that company to.

Peers are registered by operators, so private addresses are allowed; the URL must be HTTPS
unless ``CXG_FEDERATION_ALLOW_HTTP=yes`` (development).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
import threading
import time
import urllib.parse
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from typing import Any

import httpx
import jwt
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from gateway._json import JsonError, jws_header, read_json_object
from gateway.audit import note
from gateway.audit.entries import Actor, acting_as
from gateway.audit.witness import Seen, SplitView
from gateway.client import DpopKey
from gateway.config import Settings
from gateway.errors import (
    GatewayError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from gateway.events.endpoints import EndpointPolicy
from gateway.events.sets import PEER_SET_URI, SET_TYP, URI_PREFIX
from gateway.federation import MAX_DOCUMENT_BYTES, ROLLBACK, FederationDocument
from gateway.identifiers import is_country
from gateway.observe import metrics
from gateway.schema.cxg.v1 import federation_service_pb2 as pb
from gateway.schema.cxg.v1.profile_pb2 import CreditProfile, Relay
from gateway.schema.cxg.v1.profile_service_pb2 import (
    GetProfileRequest,
    SearchProfilesRequest,
    SearchProfilesResponse,
)
from gateway.schema.cxg.v1.rules_service_pb2 import Decision, RecognizeAeoRequest, SignedDecision
from gateway.sco import StatusList
from gateway.sco._trust import TrustedKey
from gateway.service._outgoing import client_tls_context
from gateway.service._paging import page_size
from gateway.service.audit import AuditLog
from gateway.service.profiles import PROFILE_TYP, SignedVersion
from gateway.service.relays import ON_BEHALF_OF_HEADER, ON_BEHALF_OF_TYP, relay_subjects
from gateway.service.rules import DECISION_TYP
from gateway.signing import KeyRing, thumbprint
from gateway.storage import Database
from gateway.storage.events import PEER_EVENT, EventStore, OutboxEvent
from gateway.storage.partners import PartnerStore
from gateway.storage.peers import SPLIT_VIEW, PeerRow, PeerStore
from gateway.trust import Partner, PartnerKey
from gateway.trust.pki import PARTNER_ID_PATTERN as _PEER_ID
from gateway.trust.policy import PURPOSES

_log = logging.getLogger("cxg.federation")
# What a peer's answer that does not parse or verify as expected raises on the way.
_PEER_FAULTS = (
    GatewayError,
    JsonError,
    KeyError,
    TypeError,
    ValueError,
    jwt.PyJWTError,
    json_format.ParseError,
)
FEDERATION_PATH = "/.well-known/cxg-federation"
PEER_ROLE = "gateway"
_CACHE_SECONDS = 60.0
_MAX_ANSWER_BYTES = 64 * 1024  # a checkpoint, a consistency proof, a token
_MAX_PROFILE_BYTES = 2 * 1024 * 1024  # a relayed profile
_ROUTES_SECONDS = 10.0  # how long a process keeps the routing table before reading it again
_BREAKER_FAILURES, _BREAKER_SECONDS = 3, 30.0
_KEPT_ANSWERS = 10_000  # relayed answers kept for the purposes that allow it (bounded memory)
_SCHEME = re.compile(r"[A-Z][A-Z0-9_]{1,31}")
_PROFILE_ID = re.compile(r"[0-9a-f]{32}")
_PROFILE_NAME = re.compile(r"profiles/[0-9a-f]{32}")
_PEER_PROFILE = re.compile(rf"peers/({_PEER_ID.pattern})/profiles/([0-9a-f]{{32}})")
LOOKUP_PATH = "/v1/profiles:lookup"
SEARCH_PATH = "/v1/profiles:search"
RECOGNIZE_PATH = "/v1/aeo:recognize"
POLL_PATH = "/v1/events:poll"
SUBSCRIPTIONS_PATH = "/v1/subscriptions"
# This gateway's subscription at each peer; the peer's SETs show that purpose's view, and are
# forwarded to the partners here subscribed with it.
EVENTS_PURPOSE = "trade_due_diligence"
_SUBSCRIPTION = {
    "scope": "SUBSCRIPTION_SCOPE_RECEIVED",
    "purpose": EVENTS_PURPOSE,
    "delivery": "EVENT_DELIVERY_POLL",
}
_POLL_ROUNDS = 10
# RFC 8936 section 2.4.4 error codes of a peer's SET refused, by the field that failed.
_SET_ERRORS = {"jws": "invalid_key", "iss": "invalid_issuer", "aud": "invalid_audience"}
STATUS_LIST_PATH = "/v1/sco/statusList"
AUDIT_LEAF_HEADER = "cxg-audit-leaf"
TOKEN_PATH = "/oauth2/token"
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Peers are registered by operators: any address may be one (a private link between countries).
_ANY_ADDRESS = (ip_network("0.0.0.0/0"), ip_network("::/0"))


class Federation:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        keyring: KeyRing,
        audit: AuditLog,
        own_issuer_keys: Callable[[], list[TrustedKey]],
        *,
        trust_changed: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``own_issuer_keys`` are what this gateway's document vouches for; ``trust_changed``
        runs when a peer's accepted document may change the trust list."""
        self._settings = settings
        self._store = PeerStore(db)
        self._partners = PartnerStore(db)
        self._keyring = keyring
        self._audit = audit
        self._own_issuer_keys = own_issuer_keys
        self._trust_changed = trust_changed
        self._clock = clock
        self._policy = EndpointPolicy(
            allow_http=settings.federation_allow_http == "yes", allowed_networks=_ANY_ADDRESS
        )
        # One client for every call to every peer: its connections are kept between calls
        # (a relayed lookup would otherwise pay a TCP and TLS handshake each time).
        self._http = httpx.Client(
            verify=client_tls_context(
                settings.federation_tls_ca_file,
                settings.federation_client_certificate,
                settings.federation_client_key,
                prefix="FEDERATION",
            ),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self._lock = threading.Lock()
        self._document: tuple[float, str] | None = None
        self._dpop = DpopKey()  # this process's DPoP key for calls to peers
        self._routing: tuple[float, dict[tuple[str, str], str], dict[str, _Target]] | None = None
        self._breaker = _Breaker()
        # A relayed call runs in a request's worker thread, which the database deadline bounds:
        # each of its two requests to the peer (token, lookup) stays well within it.
        self._relay_timeout = min(
            settings.federation_timeout_seconds, settings.database_timeout_seconds * 0.45
        )
        self._tokens: dict[str, tuple[str, float]] = {}  # peer id: (token, good until)
        self._kept = _Kept(_KEPT_ANSWERS)
        self._events = EventStore(db)
        self._subscribed: set[str] = set()  # peers this process made sure it subscribed at
        self._cache_seconds = settings.federation_cache_seconds
        self._stale_seconds = max(settings.federation_stale_seconds, self._cache_seconds)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- this gateway's document ---------------------------------------------------------------

    def document(self) -> str:
        """This gateway's federation document, signed by every key of its keyring (built at
        most once a minute per process)."""
        with self._lock:
            if self._document is None or time.monotonic() - self._document[0] > _CACHE_SECONDS:
                now = self._clock().replace(microsecond=0)
                valid = timedelta(seconds=self._settings.federation_document_valid_seconds)
                document = FederationDocument(
                    gateway=self._settings.gateway_id,
                    country=self._settings.country,
                    rest_url=self._settings.scan_base_url,
                    origin=self._audit.origin,
                    checkpoint_key=self._audit.verifier_key,
                    keys=tuple(key.public_jwk() for key in self._keyring.keys),
                    sco_issuers=tuple(self._own_issuer_keys()),
                    issued_at=now,
                    next_update=now + valid,
                )
                self._document = (time.monotonic(), document.sign(self._keyring.keys))
            return self._document[1]

    # -- the API (both transports and the CLI) --------------------------------------------------

    def get_document(self, request: pb.GetFederationDocumentRequest) -> pb.FederationDocument:
        return pb.FederationDocument(jws_json=self.document())

    def get_peer_checkpoint(self, request: pb.GetPeerCheckpointRequest) -> pb.PeerCheckpoint:
        """The peer's latest checkpoint this gateway witnessed, with its co-signature: a
        partner checks it with the peer's checkpoint key and this gateway's."""
        peer = self._store.get(request.peer) if _PEER_ID.fullmatch(request.peer) else None
        if peer is None or peer.seen_note is None or peer.cosignature is None:
            raise NotFound(
                f"no checkpoint of peer {request.peer!r} was witnessed here", field="peer"
            )
        return pb.PeerCheckpoint(peer=peer.id, note=peer.seen_note + peer.cosignature + "\n")

    def register_peer(self, request: pb.RegisterPeerRequest) -> pb.Peer:
        """Register a peer and pin the keys its first document must be signed by (obtained out
        of band: from its operator, not from the peer's own URL). Checked before anything is
        written."""
        if not _PEER_ID.fullmatch(request.peer_id):
            raise InvalidArgument(
                "2-63 lower-case letters, digits or '-', starting with a letter or digit",
                field="peer_id",
            )
        if not 0 < len(request.gateway) <= 253:
            raise InvalidArgument("the peer's gateway id is required", field="gateway")
        endpoint = self._policy.check_url(request.url.rstrip("/"), field="url")
        if not 0 < len(request.display_name) <= 256:
            raise InvalidArgument("who operates the peer (1-256 characters)", field="display_name")
        if not is_country(request.country.upper()):
            raise InvalidArgument("an ISO 3166-1 alpha-2 country", field="country")
        if request.local_id and not _PEER_ID.fullmatch(request.local_id):
            raise InvalidArgument(
                "the partner id the peer registered this gateway under", field="local_id"
            )
        if not 1 <= len(request.jwks) <= 16:
            raise InvalidArgument("pin 1 to 16 of the peer's keys", field="jwks")
        keys = [_pinned_key(request.peer_id, jwk, i) for i, jwk in enumerate(request.jwks)]
        partner = Partner(
            id=request.peer_id,
            name=request.display_name,
            country=request.country.upper(),
            roles=frozenset({PEER_ROLE}),
        )
        row = PeerRow(
            id=request.peer_id,
            gateway=request.gateway,
            url=endpoint.url,
            local_id=request.local_id or None,
            pinned=tuple({**key.jwk, "alg": key.alg} for key in keys),
            created_at=self._clock(),
        )
        self._store.add(row, partner, keys)
        self._routing = None  # its profiles may be named at once
        return _peer_message(row)

    def list_peers(self, request: pb.ListPeersRequest) -> pb.ListPeersResponse:
        return pb.ListPeersResponse(peers=[_peer_message(row) for row in self._store.all()])

    def refresh_peer(self, request: pb.RefreshPeerRequest) -> pb.PeerRefresh:
        return self.refresh(request.peer)

    def list_alarms(self, request: pb.ListPeerAlarmsRequest) -> pb.ListPeerAlarmsResponse:
        size = page_size(request.page_size, default=100)
        alarms = self._store.alarms(request.peer or None, size)
        return pb.ListPeerAlarmsResponse(
            alarms=[
                pb.PeerAlarm(
                    peer=alarm.peer,
                    kind=alarm.kind,
                    message=alarm.message,
                    seen=alarm.seen,
                    offered=alarm.offered,
                    detect_time=_timestamp(alarm.detected_at),
                )
                for alarm in alarms
            ]
        )

    def peers(self) -> list[PeerRow]:
        """Every peer as stored (with what it last showed), by id."""
        return self._store.all()

    # -- the routing table and relaying ----------------------------------------------------------

    def set_route(self, request: pb.SetPeerRouteRequest) -> pb.PeerRoute:
        """Route lookups of a scheme (in a country) to a peer; an empty peer removes the route."""
        scheme = request.scheme.upper()
        if not _SCHEME.fullmatch(scheme):
            raise InvalidArgument("an identifier scheme, e.g. KZ_BIN", field="scheme")
        country = request.country.upper()
        if country and not is_country(country):
            raise InvalidArgument("an ISO 3166-1 alpha-2 country, or empty", field="country")
        if request.peer and self._store.get(request.peer) is None:
            raise NotFound(f"no peer {request.peer!r}", field="peer")
        self._store.set_route(scheme, country, request.peer or None)
        self._routing = None
        return pb.PeerRoute(scheme=scheme, country=country, peer=request.peer)

    def list_routes(self, request: pb.ListPeerRoutesRequest) -> pb.ListPeerRoutesResponse:
        return pb.ListPeerRoutesResponse(
            routes=[
                pb.PeerRoute(scheme=scheme, country=country, peer=peer)
                for (scheme, country), peer in sorted(self._store.routes().items())
            ]
        )

    def relay_profile(self, request: GetProfileRequest, caller: Partner) -> SignedVersion | None:
        """The peer's answer to a GetProfile by an identifier the routing table sends to it, or
        by the name of a peer's profile (``peers/{peer}/profiles/{id}``): its signed JWS
        unchanged, checked against its pinned keys first; None when no route applies."""
        query = {"purpose": request.purpose}
        query |= {"consent": request.consent} if request.consent else {}
        query |= {"version": str(request.version)} if request.version else {}
        if request.WhichOneof("target") == "name":
            found = _PEER_PROFILE.fullmatch(request.name)
            if found is None:
                raise InvalidArgument(
                    "a peer's profile is peers/{peer}/profiles/{id}", field="name"
                )
            target = self._routing_table()[1].get(found[1])
            if target is None:
                raise NotFound(f"no peer {found[1]!r}", field="name")
            path, asked = f"/v1/profiles/{found[2]}", request.name
        else:
            target = self._route(request.id.scheme.upper(), request.id.value)
            if target is None:
                return None
            query |= {"scheme": request.id.scheme, "value": request.id.value}
            path, asked = LOOKUP_PATH, f"{request.id.scheme.upper()}:{request.id.value}"
        if request.format:
            raise InvalidArgument(
                "a profile relayed from a peer is answered in the canonical JSON only",
                field="format",
            )
        _refuse_suspended(target)
        # A purpose whose policy allows it is answered from what the peer said last, for a
        # while; and, for longer, while the peer cannot be reached. Each leaf says which.
        purpose = PURPOSES.get(request.purpose)
        kept_as = (target.peer.id, asked, request.version, request.purpose)
        keeps = purpose is not None and purpose.relay_cache
        if keeps and (kept := self._kept.get(kept_as, self._cache_seconds)) is not None:
            return kept.naming(f"{kept.audit_subjects[-1]}/cached")
        try:
            relay, body = self._ask(
                target,
                caller,
                {"purpose": request.purpose},
                "GET",
                f"{path}?{urllib.parse.urlencode(query)}",
            )
        except Unavailable as down:
            if keeps and (kept := self._kept.get(kept_as, self._stale_seconds)) is not None:
                _log.warning(
                    "peer unavailable: a kept answer served",
                    extra={"fields": {"peer": target.peer.id, "problem": down.message}},
                )
                return kept.naming(f"{kept.audit_subjects[-1]}/stale")
            raise
        with self._answer_from(target.peer):
            jws = read_json_object(body, max_bytes=_MAX_PROFILE_BYTES)["jws"]
            payload = target.verify(jws, PROFILE_TYP)
            profile = json_format.Parse(payload, CreditProfile(), ignore_unknown_fields=True)
        # What the peer says goes into this gateway's audit leaf only in the forms expected.
        profile_id = profile.name.removeprefix("profiles/")
        profile_id = profile_id if _PROFILE_ID.fullmatch(profile_id) else "unnamed"
        signed = SignedVersion(
            profile_id,
            profile.version,
            jws,
            profile.SerializeToString(),
            profile_json=payload,
        )
        # Not this gateway's version (no disclosure of it recorded here): the peer's, its leaf.
        signed.audit_subjects = (
            f"peers/{relay.peer}/profiles/{profile_id}/versions/{profile.version}",
            *relay_subjects(relay),
        )
        if keeps:
            self._kept.put(kept_as, signed)
        return signed

    def relay_recognition(
        self, request: RecognizeAeoRequest, caller: Partner
    ) -> SignedDecision | None:
        """The peer's decision on an authorisation of a country the routing table sends to it
        (for the importing country asked): its signed JWS unchanged, once it verifies with the
        peer's pinned keys; None when no route applies."""
        target = self._route("AEO", request.aeo_number)
        if target is None:
            return None
        question = json_format.MessageToDict(request)
        relay, body = self._ask(
            target, caller, {"op": "RecognizeAeo"}, "POST", RECOGNIZE_PATH, json=question
        )
        with self._answer_from(target.peer):
            jws = read_json_object(body, max_bytes=_MAX_PROFILE_BYTES)["jws"]
            decision = json_format.Parse(
                target.verify(jws, DECISION_TYP), Decision(), ignore_unknown_fields=True
            )
            facts = json.loads(decision.facts_json or "{}")
            if decision.question != "RecognizeAeo" or (
                facts.get("importing_country") != request.importing_country
            ):
                raise Unauthenticated("not a decision on the question asked", field="jws")
        return SignedDecision(decision=decision, jws=jws, relay=relay)

    def relay_search(
        self, request: SearchProfilesRequest, caller: Partner
    ) -> SearchProfilesResponse | None:
        """The peer's results for a search by a country a peer serves (the routing table sends
        some of that country's identifiers to it); None when no peer does. A search answer is
        not signed: it is as good as the channel to the peer (mutual TLS, the peer's token)."""
        country = request.country.strip().upper()
        target = self._route_country(country) if country else None
        if target is None:
            return None
        query = {"name_prefix": request.name_prefix, "country": country}
        query |= {"page_size": str(request.page_size)} if request.page_size else {}
        query |= {"page_token": request.page_token} if request.page_token else {}
        relay, body = self._ask(
            target,
            caller,
            {"op": "SearchProfiles"},
            "GET",
            f"{SEARCH_PATH}?{urllib.parse.urlencode(query)}",
        )
        with self._answer_from(target.peer):
            found = json_format.Parse(body, SearchProfilesResponse(), ignore_unknown_fields=True)
            for result in found.results:  # named as this gateway's partners look them up
                if not _PROFILE_NAME.fullmatch(result.name):
                    raise InvalidArgument("a result is not named profiles/{id}", field="name")
                result.name = f"peers/{target.peer.id}/{result.name}"
        found.relay.CopyFrom(relay)
        return found

    def _ask(
        self,
        target: _Target,
        caller: Partner,
        claims: dict[str, str],
        method: str,
        path: str,
        **content: Any,
    ) -> tuple[Relay, bytes]:
        """Ask the peer on the caller's behalf: the relay (its id, the peer's audit leaf) and
        the peer's answer. The peer applies its own policy to this gateway and learns the
        partner from a signed on-behalf-of claim whose jti both gateways' leaves name."""
        document, peer = self._ready_for_relay(target), target.peer
        now = int(self._clock().timestamp())
        jti = uuid.uuid4().hex
        claim = self._keyring.active.sign_jwt(
            {
                "iss": peer.local_id,
                "sub": caller.id,
                "aud": document.gateway,
                "iat": now,
                "exp": now + 60,
                "jti": jti,
                **claims,
            },
            {"typ": ON_BEHALF_OF_TYP},
        )
        if "json" in content:
            content["json"] = {**content["json"], "onBehalfOf": claim}
        try:
            token = self._token_at(peer, document, timeout=self._relay_timeout)
            status, headers, body = self._send(
                peer,
                method,
                path,
                _MAX_PROFILE_BYTES,
                headers={
                    "Authorization": f"DPoP {token}",
                    "DPoP": self._dpop.proof(method, peer.url + path.split("?")[0], token),
                    ON_BEHALF_OF_HEADER: claim,
                },
                timeout=self._relay_timeout,
                **content,
            )
            if status == 401:  # the token is no longer good: buy another next time
                self._tokens.pop(peer.id, None)
            if status >= 500 or status in (401, 429):
                raise Unavailable(
                    f"peer {peer.id!r} answered {status}: {_detail(body)}", field="peer"
                )
        except Unavailable:
            self._breaker.failed(peer.id)
            raise
        self._breaker.succeeded(peer.id)
        if status != 200:
            raise _refusal(peer.id, status, body)
        # The peer's leaf goes into this gateway's audit leaf only in the form expected.
        leaf = headers.get(AUDIT_LEAF_HEADER, "")
        relay = Relay(relay_id=jti, peer=peer.id)
        if leaf.isdigit() and len(leaf) <= 18:
            relay.peer_audit_leaf = int(leaf)
        return relay, body

    @contextlib.contextmanager
    def _answer_from(self, peer: PeerRow) -> Iterator[None]:
        """Reading the peer's answer: anything that does not parse or verify as expected is
        the peer's failure (logged, counted by the circuit breaker), never relayed."""
        try:
            yield
        except _PEER_FAULTS as exc:
            _log.error(
                "peer answered what its keys do not sign",
                extra={"fields": {"peer": peer.id, "problem": str(exc)}},
            )
            self._breaker.failed(peer.id)
            raise Unavailable(
                f"peer {peer.id!r} answered what its pinned keys do not sign", field="peer"
            ) from exc

    def _route(self, scheme: str, value: str) -> _Target | None:
        """The peer that answers lookups of this identifier."""
        routes, targets = self._routing_table()
        if not routes:
            return None
        country = value[:2].upper() if scheme == "AEO" else ""
        peer_id = routes.get((scheme, country)) or routes.get((scheme, ""))
        return None if peer_id is None else targets.get(peer_id)

    def _route_country(self, country: str) -> _Target | None:
        """The peer that serves a country: one the routing table sends lookups to whose
        document says it is that country's gateway."""
        routes, targets = self._routing_table()
        return next(
            (
                targets[peer_id]
                for peer_id in sorted(set(routes.values()))
                if (document := targets[peer_id].document) is not None
                and document.country == country
            ),
            None,
        )

    def _routing_table(self) -> tuple[dict[tuple[str, str], str], dict[str, _Target]]:
        """The routing table and the peers' state as this process last read them (at most
        ``_ROUTES_SECONDS`` ago)."""
        with self._lock:
            if self._routing is None or time.monotonic() > self._routing[0]:
                self._routing = (time.monotonic() + _ROUTES_SECONDS, *self._read_routing())
            return self._routing[1], self._routing[2]

    def _read_routing(self) -> tuple[dict[tuple[str, str], str], dict[str, _Target]]:
        routes = self._store.routes()
        targets = {}
        for peer in self._store.all():  # every peer: a name may name any
            partner = self._partners.get(peer.id)
            document = FederationDocument.accepted(peer.document) if peer.document else None
            targets[peer.id] = _Target(peer, partner is not None and partner.active, document)
        return routes, targets

    def _ready_for_relay(self, target: _Target) -> FederationDocument:
        peer = target.peer
        _refuse_suspended(target)
        if not peer.local_id or target.document is None:
            raise Unavailable(
                f"peer {peer.id!r} cannot be asked: "
                + ("it has not registered this gateway" if not peer.local_id else "no document"),
                field="peer",
            )
        if (wait := self._breaker.open_for(peer.id)) > 0:
            raise Unavailable(
                f"peer {peer.id!r} is unavailable (it failed {_BREAKER_FAILURES} times in a row;"
                f" asked again in {wait:.0f} s)",
                field="peer",
            )
        return target.document

    # -- following and witnessing ----------------------------------------------------------------

    def refresh_all(self) -> list[pb.PeerRefresh]:
        """Refresh every peer whose partner record is active."""
        active = {partner.id for partner in self._partners.all() if partner.active}
        return [self.refresh(peer.id) for peer in self._store.all() if peer.id in active]

    def refresh(self, peer_id: str) -> pb.PeerRefresh:
        """Fetch, verify and accept the peer's document, then witness its log, as the current
        actor (the schedule acts as the gateway). Failures are recorded on the peer
        (``problem``), not raised: one peer down stops no other."""
        peer = self._store.get(peer_id) if _PEER_ID.fullmatch(peer_id) else None
        if peer is None:
            raise NotFound(f"no peer {peer_id!r}", field="peer")
        try:
            document, outcome = self._follow(peer)
        except GatewayError as exc:
            return self._failed(peer, f"document: {exc.message}", str(exc.message))
        try:
            size, line = self._witness(peer, document)
        except GatewayError as exc:
            return self._failed(peer, f"checkpoint: {exc.message}", outcome)
        if line is not None and peer.local_id:
            try:
                self._hand_in(peer, document, size, line)
            except GatewayError as exc:
                self._tokens.pop(peer.id, None)  # if the token was the trouble, not next time
                return self._failed(peer, f"co-signature: {exc.message}", outcome, size)
        try:
            self._fetch_status_list(peer, document)
        except GatewayError as exc:
            return self._failed(peer, f"status list: {exc.message}", outcome, size)
        metrics.peer_refreshes.labels("ok").inc()
        return pb.PeerRefresh(peer=peer_id, document=outcome, witnessed_tree_size=size)

    def _failed(self, peer: PeerRow, problem: str, outcome: str, size: int = 0) -> pb.PeerRefresh:
        metrics.peer_refreshes.labels("failed").inc()
        _log.warning("peer refresh failed", extra={"fields": {"peer": peer.id, "problem": problem}})
        self._store.trouble(peer.id, problem)
        return pb.PeerRefresh(
            peer=peer.id, document=outcome, witnessed_tree_size=size, problem=problem
        )

    def _follow(self, peer: PeerRow) -> tuple[FederationDocument, str]:
        text = self._get(peer, FEDERATION_PATH, MAX_DOCUMENT_BYTES)
        now = self._clock()
        try:
            document = FederationDocument.verify(
                text, peer.pinned, gateway=peer.gateway, now=now, not_before=peer.issued_at
            )
        except Unauthenticated as exc:
            if exc.details.get("rule") == ROLLBACK and peer.document is not None:
                self._alarm(peer, ROLLBACK, exc.message, peer.document, text.decode())
            raise
        if text.decode() == peer.document:
            return document, "unchanged"
        accepted = self._store.accept(peer, text.decode(), document.issued_at, document.keys)
        if accepted:
            self._trust_changed()
            self._routing = None
        return document, "accepted" if accepted else "unchanged"

    def _witness(self, peer: PeerRow, document: FederationDocument) -> tuple[int, str | None]:
        """Witness the peer's latest checkpoint: its size, and this gateway's co-signature
        when it is newer than the last one witnessed."""
        latest = read_json_object(self._get(peer, "/v1/audit/checkpoint", _MAX_ANSWER_BYTES))
        offered = latest.get("note")
        if not isinstance(offered, str):
            raise InvalidArgument("the peer's checkpoint answer has no note", field="note")
        last = None
        if peer.seen_note is not None:
            seen = note.Checkpoint.from_note(
                peer.seen_note, [document.checkpoint_key], origin=document.origin
            )
            last = Seen(seen.size, seen.root, peer.seen_note)

        def consistency(first: int, second: int) -> list[bytes]:
            query = urllib.parse.urlencode({"first": first, "second": second})
            path = f"/v1/audit/proofs/consistency?{query}"
            proof = read_json_object(self._get(peer, path, _MAX_ANSWER_BYTES))
            hashes = proof.get("hashes", [])
            if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
                raise InvalidArgument("the peer's proof has no list of hashes", field="hashes")
            return [base64.b64decode(h, validate=True) for h in hashes]

        try:
            witnessed, line = self._audit.witness(
                offered,
                log_key=document.checkpoint_key,
                origin=document.origin,
                last=last,
                consistency=consistency,
            )
        except SplitView as alarm:
            self._alarm(peer, SPLIT_VIEW, str(alarm), alarm.seen, alarm.offered)
            raise Unavailable(f"split view: {alarm}", field="checkpoint") from alarm
        except (JsonError, ValueError) as exc:
            raise InvalidArgument(f"the peer's answer: {exc}", field="checkpoint") from exc
        if last is not None and witnessed.size == last.size:
            return witnessed.size, None
        self._store.witnessed(peer.id, peer.seen_size, witnessed.size, witnessed.note, line)
        return witnessed.size, line

    def _fetch_status_list(self, peer: PeerRow, document: FederationDocument) -> None:
        """The peer's SCO status list, kept once it verifies with the peer's keys: its codes
        are then checked here for revocation and suspension, not by signature alone."""
        answer = read_json_object(self._get(peer, STATUS_LIST_PATH, _MAX_PROFILE_BYTES))
        jws = answer.get("jws")
        if not isinstance(jws, str):
            raise InvalidArgument("the peer's status list answer has no jws", field="jws")
        status = StatusList.verify(jws, {"keys": list(document.keys)}, self._clock())
        if status.issuer != document.gateway:
            raise Unauthenticated(
                f"the status list is {status.issuer!r}'s, not the peer's", field="status_list/iss"
            )
        if jws != peer.status_list:
            self._store.keep_status_list(peer.id, jws)
            self._trust_changed()

    def _alarm(self, peer: PeerRow, kind: str, message: str, seen: str, offered: str) -> None:
        metrics.peer_alarms.labels(peer.id, kind).inc()
        _log.error(
            "peer alarm", extra={"fields": {"peer": peer.id, "kind": kind, "message": message}}
        )
        self._store.alarm(peer.id, kind, message, seen=seen, offered=offered)

    def _get(self, peer: PeerRow, path: str, limit: int) -> bytes:
        return self._call(peer, "GET", path, limit)

    def _call(
        self,
        peer: PeerRow,
        method: str,
        path: str,
        limit: int,
        *,
        headers: Mapping[str, str] | None = None,
        **content: Any,
    ) -> bytes:
        """The body of a request to the peer answered 200; Unavailable naming the peer (and
        its own explanation, if short) for anything else."""
        status, _, body = self._send(peer, method, path, limit, headers=headers, **content)
        if status != 200:
            said = body[:300].decode("utf-8", "replace")
            raise Unavailable(
                f"peer {peer.id!r} answered {status} to {method} {path}: {said}", field="peer"
            )
        return body

    def _send(
        self,
        peer: PeerRow,
        method: str,
        path: str,
        limit: int,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **content: Any,
    ) -> tuple[int, httpx.Headers, bytes]:
        """A request to the peer: its status, headers and body (at most ``limit`` bytes);
        Unavailable naming the peer when it cannot be reached or answers too much."""
        url = peer.url + path
        try:
            with self._http.stream(
                method,
                url,
                headers={"Accept": "application/json", **(headers or {})},
                timeout=timeout or self._settings.federation_timeout_seconds,
                **content,
            ) as answer:
                body = bytearray()
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise Unavailable(
                            f"peer {peer.id!r} answered {method} {path.split('?')[0]} with"
                            f" more than {limit} bytes",
                            field="peer",
                        )
                return answer.status_code, answer.headers, bytes(body)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"peer {peer.id!r} could not be reached at {peer.url}: {exc or type(exc).__name__}",
                field="peer",
            ) from exc

    # -- events across borders ------------------------------------------------------------------

    def poll_events(self) -> int:
        """Take every peer's new SETs (about companies it holds that this gateway relayed to
        its partners) into this gateway's outbox, each once it verifies with the peer's pinned
        keys; they are forwarded to the partners subscribed here. How many were taken."""
        peers = [peer for peer in self._store.all() if peer.local_id and peer.document]
        if not peers:
            return 0
        active = {partner.id for partner in self._partners.all() if partner.active}
        taken = 0
        for peer in peers:
            if peer.id not in active or peer.document is None:
                continue
            try:
                taken += self._poll_peer(peer, FederationDocument.accepted(peer.document))
            except Unavailable as exc:
                _log.warning(
                    "peer events not polled",
                    extra={"fields": {"peer": peer.id, "problem": exc.message}},
                )
        return taken

    def _poll_peer(self, peer: PeerRow, document: FederationDocument) -> int:
        if peer.id not in self._subscribed:
            self._subscribe_at(peer, document)
            self._subscribed.add(peer.id)
        target = _Target(peer, True, document)
        taken, acks, errors = 0, list[str](), dict[str, dict[str, str]]()
        for _ in range(_POLL_ROUNDS):  # bounded: the rest comes at the next poll
            answer = self._poll(peer, document, 100, acks, errors)
            acks, errors = [], {}
            polled = answer.get("sets")
            for jti, jws in (polled if isinstance(polled, dict) else {}).items():
                try:
                    event = _peer_event(target, str(jws), self._clock())
                except _PEER_FAULTS as exc:
                    _log.error(
                        "peer sent a SET its keys do not sign",
                        extra={"fields": {"peer": peer.id, "jti": jti, "problem": str(exc)}},
                    )
                    code = _SET_ERRORS.get(str(getattr(exc, "field", "")), "invalid_request")
                    if isinstance(exc, jwt.PyJWTError):
                        code = "invalid_key"
                    errors[str(jti)] = {"err": code, "description": str(exc)[:200]}
                    continue
                acks.append(str(jti))
                if not self._events.relayed_from(peer.id, event.profile_id):
                    _log.info(
                        "peer event about a company never relayed from it: nothing to forward",
                        extra={"fields": {"peer": peer.id, "jti": jti}},
                    )
                    continue
                taken += self._events.take_peer_event(peer.id, _said(event), event)
            if answer.get("moreAvailable") is not True:
                break
        if acks or errors:
            self._poll(peer, document, 0, acks, errors)
        return taken

    def _poll(
        self,
        peer: PeerRow,
        document: FederationDocument,
        most: int,
        acks: list[str],
        errors: dict[str, dict[str, str]],
    ) -> dict[str, Any]:
        """An RFC 8936 poll at the peer: acknowledge and refuse what came, take up to ``most``."""
        request = {"maxEvents": most, "returnImmediately": True, "ack": acks, "setErrs": errors}
        return self._peer_json(peer, document, "POST", POLL_PATH, request)

    def _subscribe_at(self, peer: PeerRow, document: FederationDocument) -> None:
        """This gateway's subscription at the peer: every company it received, polled, for the
        purpose whose view it forwards (one per peer, made once)."""
        listed = self._peer_json(peer, document, "GET", SUBSCRIPTIONS_PATH, None)
        for held in listed.get("subscriptions") or ():
            if isinstance(held, dict) and {k: held.get(k) for k in _SUBSCRIPTION} == _SUBSCRIPTION:
                return
        self._peer_json(peer, document, "POST", SUBSCRIPTIONS_PATH, _SUBSCRIPTION)

    def _peer_json(
        self,
        peer: PeerRow,
        document: FederationDocument,
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """A call to the peer as the partner it registered this gateway as, its JSON answer."""
        token = self._token_at(peer, document)
        headers = {
            "Authorization": f"DPoP {token}",
            "DPoP": self._dpop.proof(method, peer.url + path, token),
        }
        content = {} if body is None else {"json": body}
        answer = self._call(peer, method, path, _MAX_PROFILE_BYTES, headers=headers, **content)
        try:
            return read_json_object(answer, max_bytes=_MAX_PROFILE_BYTES)
        except JsonError as exc:
            raise Unavailable(f"peer {peer.id!r} answered {path} with {exc}", field="peer") from exc

    def _hand_in(self, peer: PeerRow, document: FederationDocument, size: int, line: str) -> None:
        """Give the peer this gateway's co-signature of its checkpoint (its AddCosignature),
        as the partner it registered this gateway as, with a DPoP-bound token (RFC 9449)."""
        path = f"/v1/audit/checkpoints/{size}:cosign"
        token = self._token_at(peer, document)
        headers = {
            "Authorization": f"DPoP {token}",
            "DPoP": self._dpop.proof("POST", peer.url + path, token),
        }
        self._call(peer, "POST", path, _MAX_ANSWER_BYTES, headers=headers, json={"signature": line})

    def _token_at(
        self, peer: PeerRow, document: FederationDocument, *, timeout: float | None = None
    ) -> str:
        """An access token at the peer, bought with a client assertion (RFC 7523) this
        gateway's active key signs; kept until a minute before it expires."""
        held = self._tokens.get(peer.id)
        if held is not None and time.monotonic() < held[1]:
            return held[0]
        now = int(self._clock().timestamp())
        assertion = self._keyring.active.sign_jwt(
            {
                "iss": peer.local_id,
                "sub": peer.local_id,
                "aud": document.gateway,
                "iat": now,
                "exp": now + 60,
                "jti": uuid.uuid4().hex,
            },
            {},
        )
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": _ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        proof = self._dpop.proof("POST", peer.url + TOKEN_PATH)
        status, _, body = self._send(
            peer,
            "POST",
            TOKEN_PATH,
            _MAX_ANSWER_BYTES,
            headers={"DPoP": proof},
            data=form,
            timeout=timeout,
        )
        if status != 200:
            raise Unavailable(
                f"peer {peer.id!r} refused this gateway a token ({status}): {_detail(body)}",
                field="peer",
            )
        answer = read_json_object(body)
        token, lifetime = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not isinstance(lifetime, int):
            raise Unavailable(f"peer {peer.id!r} answered no access token", field="peer")
        self._tokens[peer.id] = (token, time.monotonic() + lifetime - 60)
        return token

    # -- the schedule ----------------------------------------------------------------------------

    def start(self) -> None:
        """Refresh every peer now and then every ``CXG_FEDERATION_REFRESH_SECONDS``; poll
        the peers' events every ``CXG_FEDERATION_EVENTS_SECONDS``."""
        every = self._settings.federation_refresh_seconds
        poll_every = min(self._settings.federation_events_seconds, every)

        def run() -> None:
            refresh_at = 0.0
            while not self._stop.is_set():  # stopped before it began: no database work
                try:
                    with acting_as(Actor("gateway", "federation refresh")):
                        if time.monotonic() >= refresh_at:
                            refresh_at = time.monotonic() + every
                            self.refresh_all()
                        self.poll_events()
                except GatewayError:
                    pass  # the database is down: logged once by its health, retried next time
                except Exception:
                    _log.exception("peer refresh failed")
                if self._stop.wait(poll_every):
                    return

        self._stop.clear()
        self._thread = threading.Thread(target=run, name="cxg-federation", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)  # a refresh under way is abandoned (a daemon thread)
        self._http.close()


def peer_issuer_keys(
    store: PeerStore, partners: PartnerStore, *, own_issuer: str, now: datetime
) -> list[TrustedKey]:
    """The SCO issuer keys this gateway's active peers vouch for, from each one's last accepted
    document while it is valid. A peer vouches only for issuers of its own country, and never
    for this gateway or one of its registered partners (it cannot speak for them)."""
    registered = {partner.id: partner for partner in partners.all()}
    peers = store.all()
    keys: list[TrustedKey] = []
    for peer in peers:
        partner = registered.get(peer.id)
        if partner is None or not partner.active or peer.document is None:
            continue
        try:
            document = FederationDocument.verify(
                peer.document.encode(), peer.pinned, gateway=peer.gateway, now=now
            )
        except GatewayError:
            continue  # expired since it was accepted: its keys are no longer vouched for
        keys.extend(
            key
            for key in document.sco_issuers
            if key.country == partner.country
            and key.issuer != own_issuer
            and key.issuer not in registered
            and not any(key.issuer == other.gateway for other in peers if other is not peer)
        )
    return keys


def _pinned_key(peer_id: str, jwk: Struct, index: int) -> PartnerKey:
    field = f"jwks[{index}]"
    try:
        key = PartnerKey.from_jwk(peer_id, json_format.MessageToDict(jwk))
    except ValueError as exc:
        raise InvalidArgument(str(exc), field=field) from exc
    if key.kid != thumbprint(dict(key.jwk)):
        raise InvalidArgument(
            "a gateway key's kid is its RFC 7638 thumbprint", field=f"{field}.kid"
        )
    return key


def _peer_message(row: PeerRow) -> pb.Peer:
    message = pb.Peer(
        id=row.id,
        gateway=row.gateway,
        url=row.url,
        local_id=row.local_id or "",
        pinned_kids=sorted(str(key["kid"]) for key in row.pinned),
        witnessed_tree_size=row.seen_size or 0,
        problem=row.problem or "",
    )
    if row.issued_at is not None:
        message.document_issue_time.CopyFrom(_timestamp(row.issued_at))
    if row.refreshed_at is not None:
        message.refresh_time.CopyFrom(_timestamp(row.refreshed_at))
    return message


def _timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


class _Target:
    """A peer lookups are routed to, as this process last read it: the keys its answers must
    verify with, built once."""

    def __init__(self, peer: PeerRow, active: bool, document: FederationDocument | None) -> None:
        self.peer, self.active, self.document = peer, active, document
        self._keys = {
            str(jwk["kid"]): (str(jwk["alg"]), jwt.PyJWK(dict(jwk), algorithm=str(jwk["alg"])).key)
            for jwk in (document.keys if document else ())
        }

    def verify(self, jws: str, typ: str) -> bytes:
        """The payload of a JWS of this type one of the peer's keys signed (the key decides
        the algorithm; the header must agree and name the type)."""
        header = jws_header(jws)
        found = self._keys.get(str(header.get("kid")))
        if found is None or header.get("alg") != found[0] or header.get("typ") != typ:
            raise Unauthenticated(f"not a {typ} signed by a key of the peer", field="jws")
        payload: bytes = jwt.api_jws.decode_complete(jws, found[1], algorithms=[found[0]])[
            "payload"
        ]
        return payload


def _peer_event(target: _Target, jws: str, now: datetime) -> OutboxEvent:
    """A peer's SET as an outbox event here, once it verifies with the peer's pinned keys and
    is addressed to this gateway (its partner id there) about a company named as expected."""
    claims = read_json_object(target.verify(jws, SET_TYP))
    document, peer = target.document, target.peer
    if document is None or claims.get("iss") != document.gateway:
        raise Unauthenticated("iss is not the peer's gateway id", field="iss")
    if claims.get("aud") != peer.local_id:
        raise Unauthenticated("aud is not this gateway's partner id there", field="aud")
    subject = claims["sub_id"]["id"]
    events = claims["events"]
    toe = claims["toe"]
    if not isinstance(subject, str) or not _PROFILE_NAME.fullmatch(subject):
        raise InvalidArgument("sub_id is not a profile's name", field="sub_id")
    if not isinstance(toe, int) or not isinstance(events, dict) or not events:
        raise InvalidArgument("toe and events are required", field="events")
    if PEER_SET_URI in events or not all(
        isinstance(uri, str) and uri.startswith(URI_PREFIX) and isinstance(body, dict)
        for uri, body in events.items()
    ):
        raise InvalidArgument("events are the gateway's own, never forwarded ones", field="events")
    return OutboxEvent(
        seq=0,
        kind=PEER_EVENT,
        profile_id=subject.removeprefix("profiles/"),
        version=0,
        detail={"peer": peer.id, "purpose": EVENTS_PURPOSE, "set": jws, "events": events},
        # toe is in whole seconds: the event happened before the next one began.
        occurred_at=datetime.fromtimestamp(toe + 1, UTC),
    )


def _said(event: OutboxEvent) -> str:
    """A digest of what a peer's SET says: a change is taken once by it, not by the SET's jti
    (two processes that subscribed at once get two SETs of each change, saying the same)."""
    said = [event.profile_id, event.occurred_at.isoformat(), event.detail["events"]]
    return hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()[:32]


def _refuse_suspended(target: _Target) -> None:
    if not target.active:
        raise Unavailable(f"peer {target.peer.id!r} is suspended", field="peer")


class _Kept:
    """The peers' latest answers to relayed lookups, the oldest dropped beyond ``size``."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._answers: OrderedDict[tuple[Any, ...], tuple[float, SignedVersion]] = OrderedDict()

    def get(self, key: tuple[Any, ...], max_age: float) -> SignedVersion | None:
        with self._lock:
            found = self._answers.get(key)
        if found is None or time.monotonic() - found[0] > max_age:
            return None
        return found[1]

    def put(self, key: tuple[Any, ...], answer: SignedVersion) -> None:
        with self._lock:
            self._answers[key] = (time.monotonic(), answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)


class _Breaker:
    """Per peer: after ``_BREAKER_FAILURES`` failures in a row, relays are refused at once for
    ``_BREAKER_SECONDS`` (each request would otherwise wait out the timeout), then tried again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._open_until: dict[str, float] = {}

    def open_for(self, peer_id: str) -> float:
        return self._open_until.get(peer_id, 0.0) - time.monotonic()

    def failed(self, peer_id: str) -> None:
        with self._lock:
            failures = self._failures.get(peer_id, 0) + 1
            self._failures[peer_id] = failures
            if failures >= _BREAKER_FAILURES:
                self._open_until[peer_id] = time.monotonic() + _BREAKER_SECONDS
                self._failures[peer_id] = 0

    def succeeded(self, peer_id: str) -> None:
        with self._lock:
            self._failures.pop(peer_id, None)


def _detail(body: bytes) -> str:
    """A peer's explanation: its problem's detail (RFC 9457), else the start of its body."""
    try:
        problem = json.loads(body)
        return str(problem.get("detail") or problem.get("title"))[:300]
    except (ValueError, AttributeError):
        return body[:300].decode("utf-8", "replace")


def _refusal(peer_id: str, status: int, body: bytes) -> GatewayError:
    """The peer's refusal of a relayed request, as this gateway's error naming the peer."""
    detail = f"peer {peer_id!r}: {_detail(body)}"
    try:
        field = json.loads(body).get("field")
    except (ValueError, AttributeError):
        field = None
    if status == 404:
        return NotFound(detail, field=field)
    if status == 403:
        return PermissionDenied(detail, field=field)
    if status in (400, 413, 422):
        return InvalidArgument(detail, field=field)
    return Unavailable(f"peer {peer_id!r} answered {status}: {_detail(body)}", field="peer")


def peer_status_lists(store: PeerStore, *, now: datetime) -> dict[str, StatusList]:
    """The SCO status lists of the peers, by issuer (the peer's gateway id), as last fetched
    and still valid: a peer's code is checked with its list as this gateway's are with its."""
    lists = {}
    for peer in store.all():
        if peer.status_list is None or peer.document is None:
            continue
        try:
            status = StatusList.verify(peer.status_list, {"keys": list(peer.pinned)}, now)
        except GatewayError:
            continue  # expired: the peer's codes are judged by signature and dates alone
        lists[status.issuer] = status
    return lists
