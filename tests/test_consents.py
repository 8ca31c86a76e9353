"""Consents on SQLite and PostgreSQL: only portals grant, every invalid field is named, the check
a GetProfile request passes, and nothing a caller gets back tells one partner's consents from
consents that do not exist."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.errors import GatewayError, InvalidArgument, NotFound, PermissionDenied
from gateway.schema.cxg.v1.consent_service_pb2 import (
    Consent,
    ConsentState,
    GetConsentRequest,
    GrantConsentRequest,
    ListConsentsRequest,
    RevokeConsentRequest,
)
from gateway.schema.cxg.v1.profile_pb2 import EntityId
from gateway.service.consents import ConsentService
from gateway.storage import Database, NewVersion, ProfileStore, Rendered
from gateway.storage.partners import PartnerStore
from gateway.trust import Partner
from tests.support import KZ_BIN, USCC, USCC_2

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SUBJECT = EntityId(scheme="CN_USCC", value=USCC)


class Clock:
    """The service's clock, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def service(db: Database, clock: Clock) -> ConsentService:
    # Partners beyond the shared test set: a second portal, and a bank registered for one
    # purpose that needs no consent.
    store = PartnerStore(db)
    store.add(Partner("other-portal", "Other portal", "KZ", frozenset({"sme_portal"})), [])
    store.add(
        Partner(
            "narrow-bank",
            "Narrow bank",
            "KZ",
            frozenset({"bank"}),
            purposes=frozenset({"trade_due_diligence"}),
        ),
        [],
    )
    return ConsentService(db, clock=clock)


@pytest.fixture
def profile_id(db: Database) -> str:
    return store_profile(db, "CN_USCC", USCC)


def store_profile(db: Database, scheme: str, value: str) -> str:
    """A profile as the store keeps it: consents need only its id and identifiers, so these
    tests do not depend on the publication pipeline."""
    digest = hashlib.sha256(f"{scheme}:{value}".encode()).hexdigest()
    stored = ProfileStore(db).append(
        NewVersion(
            identifiers=[(scheme, value)],
            country="CN",
            names=[],
            publisher="ru-bureau",
            request_sha256=digest,
            source_jws="-",
            published_at=NOW,
            render=lambda _id, _version: Rendered("-", digest, b""),
        )
    )
    return stored.profile_id


def partner(db: Database, partner_id: str) -> Partner:
    found = PartnerStore(db).get(partner_id)
    assert found is not None
    return found


def grant_request(**overrides: Any) -> GrantConsentRequest:
    """A valid request; an override of None leaves the field unset."""
    fields: dict[str, Any] = {
        "subject": SUBJECT,
        "grantee": "kz-bank",
        "purpose": "credit_assessment",
        "expire_time": NOW + timedelta(days=30),
    }
    fields.update(overrides)
    return GrantConsentRequest(**{k: v for k, v in fields.items() if v is not None})


def refusal(call: Callable[[], object]) -> tuple[type[GatewayError], str, str | None, object]:
    """Everything a caller learns from a refused call."""
    with pytest.raises(GatewayError) as caught:
        call()
    error = caught.value
    return type(error), error.message, error.field, error.details


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def random_name() -> str:
    return f"consents/{uuid.uuid4().hex}"


# -- GrantConsent ----------------------------------------------------------------------------


def test_portal_grants_and_both_parties_see_the_consent(
    db: Database, service: ConsentService, profile_id: str
) -> None:
    # Any accepted spelling of the identifier; the consent keeps the normalized one.
    subject = EntityId(scheme="cn_uscc", value=" ".join((USCC[:9], USCC[9:])).lower())
    consent = service.grant(partner(db, "sme-portal"), grant_request(subject=subject))

    assert consent.name.removeprefix("consents/").isalnum()
    assert len(consent.name) == len("consents/") + 32
    assert consent.profile == f"profiles/{profile_id}"
    assert consent.subject == SUBJECT
    assert (consent.grantee, consent.purpose, consent.granted_by) == (
        "kz-bank",
        "credit_assessment",
        "sme-portal",
    )
    assert consent.create_time.ToDatetime(tzinfo=UTC) == NOW
    assert consent.expire_time.ToDatetime(tzinfo=UTC) == NOW + timedelta(days=30)
    assert not consent.HasField("revoke_time")
    assert consent.state == ConsentState.CONSENT_STATE_ACTIVE
    for reader in ("sme-portal", "kz-bank"):
        assert service.get(partner(db, reader), GetConsentRequest(name=consent.name)) == consent


@pytest.mark.parametrize("caller", ["kz-bank", "ru-bureau", "cn-customs"])
def test_only_portals_grant(
    db: Database, service: ConsentService, profile_id: str, caller: str
) -> None:
    with pytest.raises(PermissionDenied):
        service.grant(partner(db, caller), grant_request())
    assert not service.list(partner(db, "kz-bank"), ListConsentsRequest()).consents


def test_granted_by_is_always_the_caller(
    db: Database, service: ConsentService, profile_id: str
) -> None:
    # No request field can name another portal: the gateway sets granted_by from the caller.
    assert "granted_by" not in GrantConsentRequest.DESCRIPTOR.fields_by_name
    consent = service.grant(partner(db, "other-portal"), grant_request())
    assert consent.granted_by == "other-portal"
    stored = service.get(partner(db, "kz-bank"), GetConsentRequest(name=consent.name))
    assert stored.granted_by == "other-portal"
    assert not service.list(partner(db, "sme-portal"), ListConsentsRequest()).consents


def test_a_consent_may_last_exactly_366_days(
    db: Database, service: ConsentService, profile_id: str
) -> None:
    consent = service.grant(
        partner(db, "sme-portal"), grant_request(expire_time=NOW + timedelta(days=366))
    )
    assert consent.state == ConsentState.CONSENT_STATE_ACTIVE


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject": None}, "subject"),
        ({"subject": EntityId(scheme="", value=USCC)}, "subject.scheme"),
        ({"subject": EntityId(scheme="XX_VAT", value=USCC)}, "subject.scheme"),
        ({"subject": EntityId(scheme="CN_USCC", value="")}, "subject.value"),
        ({"subject": EntityId(scheme="CN_USCC", value=USCC[:-1] + "5")}, "subject.value"),
        ({"grantee": ""}, "grantee"),
        ({"grantee": "no-such-bank"}, "grantee"),
        ({"grantee": "suspended-bank"}, "grantee"),
        ({"grantee": "kz-bank' OR '1'='1"}, "grantee"),
        ({"purpose": ""}, "purpose"),
        ({"purpose": "marketing"}, "purpose"),
        ({"purpose": "trade_due_diligence"}, "purpose"),  # needs no consent
        ({"grantee": "cn-customs"}, "purpose"),  # customs may not assess credit
        ({"grantee": "narrow-bank"}, "purpose"),  # registered for other purposes only
        ({"grantee": "sme-portal"}, "purpose"),  # a portal cannot grant itself
        ({"expire_time": None}, "expire_time"),
        ({"expire_time": NOW}, "expire_time"),
        ({"expire_time": NOW - timedelta(days=1)}, "expire_time"),
        ({"expire_time": NOW + timedelta(days=366, microseconds=1)}, "expire_time"),
        ({"expire_time": Timestamp(seconds=2**62)}, "expire_time"),
    ],
)
def test_each_invalid_field_is_named(
    db: Database,
    service: ConsentService,
    profile_id: str,
    overrides: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        service.grant(partner(db, "sme-portal"), grant_request(**overrides))
    assert caught.value.field == field
    assert not service.list(partner(db, "sme-portal"), ListConsentsRequest()).consents


def test_the_subjects_profile_must_exist(
    db: Database, service: ConsentService, profile_id: str
) -> None:
    unknown = EntityId(scheme="CN_USCC", value=USCC_2)
    with pytest.raises(NotFound):
        service.grant(partner(db, "sme-portal"), grant_request(subject=unknown))


# -- The check of a GetProfile request -------------------------------------------------------


def test_check_accepts_a_valid_consent(
    db: Database, service: ConsentService, profile_id: str
) -> None:
    consent = service.grant(partner(db, "sme-portal"), grant_request())
    consent_id = consent.name.removeprefix("consents/")
    assert service.check("kz-bank", profile_id, "credit_assessment", consent.name) == consent_id


def test_check_asks_for_a_consent_when_none_is_cited(
    service: ConsentService, profile_id: str
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        service.check("kz-bank", profile_id, "credit_assessment", "")
    assert caught.value.field == "consent"
    assert "credit_assessment" in caught.value.message


@pytest.mark.parametrize(
    "case",
    [
        "another grantee",
        "another purpose",
        "another profile",
        "unknown id",
        "malformed name",
        "a profile name",
        "revoked",
        "expired",
    ],
)
def test_check_refuses_every_invalid_consent_alike(
    db: Database, service: ConsentService, clock: Clock, profile_id: str, case: str
) -> None:
    consent = service.grant(partner(db, "sme-portal"), grant_request())
    caller, profile, purpose, name = "kz-bank", profile_id, "credit_assessment", consent.name
    if case == "another grantee":
        caller = "ru-bureau"
    elif case == "another purpose":
        purpose = "credit_reporting"
    elif case == "another profile":
        profile = store_profile(db, "KZ_BIN", KZ_BIN)
    elif case == "unknown id":
        name = random_name()
    elif case == "malformed name":
        name = consent.name + "' OR '1'='1"
    elif case == "a profile name":
        name = f"profiles/{profile_id}"
    elif case == "revoked":
        service.revoke(partner(db, "sme-portal"), RevokeConsentRequest(name=consent.name))
    elif case == "expired":
        clock.advance(timedelta(days=30))  # expire_time itself is already past

    refused = refusal(lambda: service.check(caller, profile, purpose, name))
    unknown = refusal(lambda: service.check("kz-bank", profile_id, purpose, random_name()))
    assert refused == unknown
    assert refused[0] is PermissionDenied
    assert refused[2] == "consent"


def test_a_consent_holds_until_its_expire_time(
    db: Database, service: ConsentService, clock: Clock, profile_id: str
) -> None:
    consent = service.grant(partner(db, "sme-portal"), grant_request())
    clock.advance(timedelta(days=30, microseconds=-1))
    service.check("kz-bank", profile_id, "credit_assessment", consent.name)
    clock.advance(timedelta(microseconds=1))
    with pytest.raises(PermissionDenied):
        service.check("kz-bank", profile_id, "credit_assessment", consent.name)
    seen = service.get(partner(db, "kz-bank"), GetConsentRequest(name=consent.name))
    assert seen.state == ConsentState.CONSENT_STATE_EXPIRED


# -- RevokeConsent ---------------------------------------------------------------------------


def test_revoke_takes_effect_at_once_and_twice_changes_nothing(
    db: Database, service: ConsentService, clock: Clock, profile_id: str
) -> None:
    portal = partner(db, "sme-portal")
    consent = service.grant(portal, grant_request())
    clock.advance(timedelta(hours=1))

    revoked = service.revoke(portal, RevokeConsentRequest(name=consent.name))
    assert revoked.state == ConsentState.CONSENT_STATE_REVOKED
    assert revoked.revoke_time.ToDatetime(tzinfo=UTC) == clock.now
    with pytest.raises(PermissionDenied):
        service.check("kz-bank", profile_id, "credit_assessment", consent.name)

    clock.advance(timedelta(hours=1))
    assert service.revoke(portal, RevokeConsentRequest(name=consent.name)) == revoked
    assert service.get(partner(db, "kz-bank"), GetConsentRequest(name=consent.name)) == revoked


def test_probing_another_partners_consent_looks_like_a_missing_one(
    db: Database, service: ConsentService, profile_id: str
) -> None:
    consent = service.grant(partner(db, "sme-portal"), grant_request())
    calls: list[tuple[str, Callable[[Partner, str], Consent]]] = [
        ("other-portal", lambda p, n: service.get(p, GetConsentRequest(name=n))),
        ("other-portal", lambda p, n: service.revoke(p, RevokeConsentRequest(name=n))),
        ("cn-customs", lambda p, n: service.get(p, GetConsentRequest(name=n))),
        # The grantee reads the consent but may not revoke it.
        ("kz-bank", lambda p, n: service.revoke(p, RevokeConsentRequest(name=n))),
    ]
    for caller_id, call in calls:
        caller = partner(db, caller_id)
        existing = refusal(partial(call, caller, consent.name))
        assert existing[0] is NotFound
        for name in (random_name(), "consents/not-an-id", ""):
            assert refusal(partial(call, caller, name)) == existing

    still = service.get(partner(db, "kz-bank"), GetConsentRequest(name=consent.name))
    assert still.state == ConsentState.CONSENT_STATE_ACTIVE


# -- ListConsents ----------------------------------------------------------------------------


def test_list_pages_newest_first_to_the_parties_only(
    db: Database, service: ConsentService, clock: Clock, profile_id: str
) -> None:
    portal = partner(db, "sme-portal")
    granted = []
    # Pairs share a creation time, so page boundaries fall between equal timestamps too.
    for i, grantee in enumerate(["kz-bank", "ru-bureau"] * 3):
        if i % 2 == 0:
            clock.advance(timedelta(seconds=1))
        granted.append(service.grant(portal, grant_request(grantee=grantee)))
    newest_first = sorted(granted, key=lambda c: (c.create_time.ToDatetime(), c.name), reverse=True)

    def listed(caller: Partner, size: int) -> tuple[list[int], list[Consent]]:
        """The sizes of the pages, and every consent on them in order."""
        sizes: list[int] = []
        found: list[Consent] = []
        token = ""
        while True:
            page = service.list(caller, ListConsentsRequest(page_size=size, page_token=token))
            sizes.append(len(page.consents))
            found.extend(page.consents)
            if not (token := page.next_page_token):
                return sizes, found

    assert listed(portal, 4) == ([4, 2], newest_first)
    assert listed(portal, 2) == ([2, 2, 2], newest_first)
    assert listed(portal, 0) == ([6], newest_first)
    received = [c for c in newest_first if c.grantee == "kz-bank"]
    assert listed(partner(db, "kz-bank"), 1) == ([1, 1, 1], received)
    for outsider in ("cn-customs", "other-portal"):
        assert not service.list(partner(db, outsider), ListConsentsRequest()).consents


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (ListConsentsRequest(page_size=-1), "page_size"),
        (ListConsentsRequest(page_size=101), "page_size"),
        (ListConsentsRequest(page_token="not a token"), "page_token"),
        (ListConsentsRequest(page_token=b64("p:" + "0" * 32)), "page_token"),
        (ListConsentsRequest(page_token=b64(f"c:{'9' * 20}:{'a' * 32}")), "page_token"),
        (ListConsentsRequest(page_token=b64(f"c:1:{'A' * 32}")), "page_token"),
    ],
    ids=[
        "negative size",
        "size over 100",
        "not base64",
        "a profile search token",
        "time out of range",
        "upper-case id",
    ],
)
def test_list_names_an_invalid_page_field(
    db: Database, service: ConsentService, request_: ListConsentsRequest, field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        service.list(partner(db, "sme-portal"), request_)
    assert caught.value.field == field
