"""Mutual recognition: rule packs signed by the operator and activated after their own tests
pass, and the decisions the active packs make, each signed by the gateway.

A pack travels as a JWS by one of the gateway's own keys (the operator's), whose payload is the
pack file exactly: its SHA-256 names it. Activation refuses a file that is unsigned, signed by
another key, tampered, malformed, failing one of its tests, expired, or that would answer
questions another active pack answers on the same dates. Every process serving the gateway
reloads the active set from the database within ``RELOAD_SECONDS`` of a change.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import jwt

from gateway._json import JsonError, jws_header
from gateway.config import Settings
from gateway.errors import InvalidArgument, NotFound, PermissionDenied, RulePackError
from gateway.identifiers import validate
from gateway.observe import metrics
from gateway.profiles import canonical_json
from gateway.rules import Decision, Outcome, RuleBook, RulePack
from gateway.schema.cxg.v1 import rules_service_pb2 as pb
from gateway.schema.cxg.v1.profile_pb2 import AeoState, CommonGrade, CreditProfile, Relay
from gateway.service.relays import OnBehalfOf
from gateway.signing import KeyRing
from gateway.storage import Database, ProfileStore
from gateway.storage.rules import RulePackStore, StoredPack
from gateway.trust import Partner

PACK_TYP = "cxg-rule-pack+jws"
DECISION_TYP = "cxg-decision+jws"
RELOAD_SECONDS = 5.0
_log = logging.getLogger("cxg.rules")
_OUTCOMES = {
    Outcome.RECOGNIZED: pb.OUTCOME_RECOGNIZED,
    Outcome.NOT_RECOGNIZED: pb.OUTCOME_NOT_RECOGNIZED,
    Outcome.OPEN: pb.OUTCOME_OPEN,
}
_AEO_STATUS = {
    AeoState.AEO_STATE_AUTHORISED: "authorised",
    AeoState.AEO_STATE_SUSPENDED: "suspended",
    AeoState.AEO_STATE_REVOKED: "revoked",
    AeoState.AEO_STATE_ANNULLED: "annulled",
}


class RuleService:
    def __init__(
        self,
        store: RulePackStore,
        profiles: ProfileStore,
        keyring: KeyRing,
        *,
        gateway_id: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._profiles = profiles
        self._keyring = keyring
        self._gateway_id = gateway_id
        self._clock = clock
        self._loaded: tuple[str, ...] = ()
        self._book = RuleBook()
        self._checked = 0.0
        # Why the active packs stored could not be loaded at the last reload (readiness).
        self.load_problem: str | None = None
        # Set by the gateway (gateway/transport/serve.py): the check of a peer gateway's
        # on-behalf-of claims, and its federation's relay of questions a peer answers.
        self.on_behalf_of: OnBehalfOf | None = None
        self.relay: Callable[[pb.RecognizeAeoRequest, Partner], pb.SignedDecision | None] = (
            lambda request, caller: None
        )
        self.reload()

    @classmethod
    def from_settings(
        cls, settings: Settings, db: Database, keyring: KeyRing | None = None
    ) -> RuleService:
        return cls(
            RulePackStore(db),
            ProfileStore(db),
            keyring or KeyRing.from_settings(settings),
            gateway_id=settings.gateway_id,
        )

    @property
    def keyring(self) -> KeyRing:
        return self._keyring

    # -- the operator's tools --------------------------------------------------------------------

    def sign(self, pack_file: bytes) -> str:
        """The pack file signed by the operator key, once it parses (its tests run at
        activation)."""
        pack = RulePack.from_bytes(pack_file)
        headers = {"typ": PACK_TYP, "iss": self._gateway_id, "pack": pack.name}
        return self._keyring.active.sign_jws(pack_file, headers)

    def verify(self, signed: str) -> RulePack:
        """The pack a signed file holds; ``RulePackError`` unless the operator key signed it."""
        try:
            header = jws_header(signed)
        except JsonError as exc:
            raise RulePackError(
                "not a signed pack (a JWS by the operator key): sign it with `cxg rules sign`",
                field="/",
            ) from exc
        key = next((k for k in self._keyring.keys if k.kid == header.get("kid")), None)
        if key is None or header.get("typ") != PACK_TYP:
            raise RulePackError("the pack is not signed by this gateway's operator key", field="/")
        try:
            payload = jwt.api_jws.decode(signed, key.public_key(), algorithms=[key.alg])
        except jwt.InvalidSignatureError as exc:
            raise RulePackError("the pack's signature does not match: tampered", field="/") from exc
        except jwt.PyJWTError as exc:
            raise RulePackError(f"not a valid signed pack: {exc}", field="/") from exc
        return RulePack.from_bytes(payload)

    def activate(self, signed: str) -> RulePack:
        """Verify, test and store a signed pack as the active version of its id."""
        pack = self.verify(signed)
        today = self._clock().date()
        if pack.valid_to is not None and pack.valid_to < today:
            raise RulePackError(
                f"the pack expired on {pack.valid_to.isoformat()}", field="/valid_to"
            )
        failures = pack.run_tests()
        if failures:
            listed = "; ".join(f"{f.test}: expected {f.expected}, got {f.got}" for f in failures)
            raise RulePackError(
                f"{len(failures)} of the pack's tests fail: {listed}", field="/tests"
            )

        def no_overlap(active: list[StoredPack]) -> None:
            RuleBook(self.verify(p.jws) for p in active).with_pack(pack)

        self._store.activate(pack.sha256, pack.id, pack.version, signed, self._clock(), no_overlap)
        _log.info(
            "rule pack activated",
            extra={"fields": {"pack": pack.id, "version": pack.version, "sha256": pack.sha256}},
        )
        self.reload(force=True)
        return pack

    def reload(self, *, force: bool = False) -> RuleBook:
        """The active packs, re-read from the database when another process may have changed
        them (at most every RELOAD_SECONDS, or now when ``force``)."""
        now = time.monotonic()
        if force or now - self._checked >= RELOAD_SECONDS:
            self._checked = now
            stored = self._store.active()
            hashes = tuple(sorted(p.sha256 for p in stored))
            if hashes != self._loaded:
                try:
                    self._book = RuleBook(self.verify(p.jws) for p in stored)
                except RulePackError as exc:
                    self.load_problem = f"an active pack does not load: {exc}"
                    raise
                self._loaded = hashes
            self.load_problem = None
        return self._book

    # -- decisions -------------------------------------------------------------------------------

    def recognize_aeo(self, request: pb.RecognizeAeoRequest, caller: Partner) -> pb.SignedDecision:
        """Whether the importing country recognizes the authorisation; one whose country the
        routing table sends to a peer gateway is decided by the peer, for the same importing
        country."""
        relayed_for = self._relayed_for(request, caller)
        number = validate("AEO", request.aeo_number, field="aeo_number").value
        importing = (request.importing_country or caller.country).upper()
        if len(importing) != 2 or not importing.isalpha():
            raise InvalidArgument(
                "importing_country is an ISO 3166-1 alpha-2 code", field="importing_country"
            )
        day = self._day(request.as_of_date, "as_of_date")
        if not relayed_for:
            asked = pb.RecognizeAeoRequest(
                aeo_number=number, as_of_date=day.isoformat(), importing_country=importing
            )
            if (relayed := self.relay(asked, caller)) is not None:
                return relayed
        facts: dict[str, Any] = {"importing_country": importing}
        facts |= self._aeo_facts(number)
        decision = self.reload().recognize_aeo(importing, number[:2], facts, day)
        signed = self._signed("RecognizeAeo", decision, facts)
        if relayed_for:
            signed.relay.CopyFrom(relayed_for)
        return signed

    def recognitions(self, number: str, day: date) -> list[tuple[str, Decision]]:
        """How every country with an arrangement with the authorisation's programme country
        decides it on ``day`` (a credit report's AEO section), by importing country."""
        book = self.reload()
        facts = self._aeo_facts(number)
        return [
            (
                country,
                book.recognize_aeo(
                    country, number[:2], {"importing_country": country} | facts, day
                ),
            )
            for country in book.partner_countries(number[:2])
        ]

    def _relayed_for(self, request: pb.RecognizeAeoRequest, caller: Partner) -> Relay | None:
        if self.on_behalf_of is None:  # an entry point that takes no relayed questions
            if request.on_behalf_of or "gateway" in caller.roles:
                raise PermissionDenied("this entry point answers no relayed questions")
            return None
        return self.on_behalf_of.check(request.on_behalf_of, caller, op="RecognizeAeo")

    def equivalent_grade(self, request: pb.EquivalentGradeRequest) -> pb.SignedDecision:
        for name in ("scheme", "grade"):
            if not getattr(request, name).strip():
                raise InvalidArgument(f"{name} is required", field=name)
        if request.rating_date:
            self._day(request.rating_date, "rating_date")
        day = self._day(request.as_of_date, "as_of_date")
        rating = {"scheme": request.scheme.strip(), "grade": request.grade.strip()}
        if request.rating_date:
            rating["as_of_date"] = request.rating_date
        decision = self.reload().equivalent_grade(rating, day)
        return self._signed("EquivalentGrade", decision, {"rating": rating})

    def common_grade(self, profile: CreditProfile, day: date) -> CommonGrade | None:
        return self.reload().common_grade(profile, day)

    # -- the packs, served by hash ---------------------------------------------------------------

    def list_packs(self) -> pb.ListRulePacksResponse:
        return pb.ListRulePacksResponse(packs=[self._info(p) for p in self._store.active()])

    def get_pack(self, request: pb.GetRulePackRequest) -> pb.SignedRulePack:
        prefix, _, sha256 = request.name.partition("/")
        if prefix != "rulePacks" or len(sha256) != 64 or not _is_hex(sha256):
            raise InvalidArgument("name is rulePacks/{sha256}", field="name")
        stored = self._store.get(sha256)
        if stored is None:
            raise NotFound("no such rule pack")
        return pb.SignedRulePack(info=self._info(stored), jws=stored.jws)

    # -- internals -------------------------------------------------------------------------------

    def _aeo_facts(self, number: str) -> dict[str, Any]:
        """What the gateway knows of the authorisation: the latest version of the profile that
        carries it. Nothing when no partner published it (the rules then decide OPEN)."""
        ref = self._profiles.find_by_identifier("AEO", number)
        if ref is None:
            return {}
        stored = self._profiles.load(ref.row_id)
        return aeo_facts(CreditProfile.FromString(stored.profile_pb), number, stored.published_at)

    def _day(self, text: str, field: str) -> date:
        if not text:
            return self._clock().date()
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise InvalidArgument(
                f"{field} is an ISO 8601 date (YYYY-MM-DD)", field=field
            ) from None

    def _signed(
        self, question: str, decision: Decision, facts: dict[str, Any]
    ) -> pb.SignedDecision:
        reason = decision.reason
        message = pb.Decision(
            question=question,
            outcome=_OUTCOMES[decision.outcome],
            rule=reason.rule,
            reason={"zh": reason.zh, "en": reason.en, "ru": reason.ru},
            benefits=decision.benefits,
            bucket=decision.bucket,
            ordinal=decision.ordinal,
            rule_pack=decision.pack if decision.pack_id else "",
            rule_pack_sha256=decision.pack_sha256,
            as_of_date=decision.date,
            facts_json=json.dumps(facts, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        )
        headers = {"typ": DECISION_TYP, "iat": int(time.time()), "iss": self._gateway_id}
        jws = self._keyring.active.sign_jws(canonical_json(message), headers)
        metrics.rule_decisions.labels(decision.outcome.value.lower()).inc()
        return pb.SignedDecision(decision=message, jws=jws)

    def _info(self, stored: StoredPack) -> pb.RulePackInfo:
        loaded = {p.sha256: p for p in self.reload().packs}
        pack = loaded.get(stored.sha256) or self.verify(stored.jws)
        info = pb.RulePackInfo(
            name=f"rulePacks/{stored.sha256}",
            id=pack.id,
            version=pack.version,
            type=pack.type,
            valid_from=pack.valid_from.isoformat(),
            valid_to=pack.valid_to.isoformat() if pack.valid_to else "",
            description=dict(pack.description),
            active=stored.active,
        )
        info.activate_time.FromDatetime(stored.activated_at)
        return info


def aeo_facts(profile: CreditProfile, number: str, published_at: datetime) -> dict[str, Any]:
    """The facts an AEO pack reads about authorisation ``number`` in a stored profile version
    (empty when the profile does not carry it); fields not stated are left out."""
    status = next((a for a in profile.aeo if a.authorisation_number == number), None)
    if status is None:
        return {}
    aeo = {
        "number": number,
        "programme_country": status.program_country,
        "type": status.type,
        "status": _AEO_STATUS.get(status.status, ""),
        "authorised_date": status.authorised_date,
        "valid_until_date": status.valid_until_date,
    }
    return {
        "aeo": {key: value for key, value in aeo.items() if value},
        "data_date": published_at.date().isoformat(),
    }


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
