"""Consent use cases: SME portals grant and revoke, portals and grantees read, and the check a
GetProfile request whose purpose needs consent must pass.

Both transports call this one core with the authenticated ``Partner``; who recorded a consent is
always that caller, never a request field. A consent the caller may not see answers exactly like
one that does not exist, and a consent that does not allow a request is refused with one message
whatever the reason, so neither reveals other partners' consents.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from gateway.errors import InvalidArgument, NotFound, PermissionDenied
from gateway.identifiers import Validated, normalize_scheme, validate
from gateway.schema.cxg.v1.consent_service_pb2 import (
    Consent,
    ConsentState,
    GetConsentRequest,
    GrantConsentRequest,
    ListConsentsRequest,
    ListConsentsResponse,
    RevokeConsentRequest,
)
from gateway.schema.cxg.v1.profile_pb2 import EntityId
from gateway.service._paging import decode_time_token, encode_time_token, page_size
from gateway.storage import Database, ProfileStore
from gateway.storage.consents import ConsentRow, ConsentStore
from gateway.storage.partners import PartnerStore
from gateway.trust.partners import Partner
from gateway.trust.policy import Purpose, purpose_for

PORTAL_ROLE = "sme_portal"
MAX_DURATION = timedelta(days=366)
# A consent is named consents/{id}; its bare id is accepted too (as `cxg sco revoke` takes a
# code's id), by every entry point: GetConsent, RevokeConsent and a GetProfile `consent`.
_NAME = re.compile(r"(?:consents/)?([0-9a-f]{32})")  # used with fullmatch
_NO_SUCH_CONSENT = "no such consent"
_INVALID_CONSENT = "consent is not valid for this caller, profile and purpose"
# What an expire time must look like, said wherever one is refused (proto3 JSON of a Timestamp).
TIMESTAMP_FORM = "an RFC 3339 timestamp with a time zone, e.g. 2027-01-31T00:00:00Z"


class ConsentService:
    def __init__(
        self, db: Database, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._consents = ConsentStore(db)
        self._profiles = ProfileStore(db)
        self._partners = PartnerStore(db)
        self._clock = clock

    # -- GrantConsent --------------------------------------------------------------------------

    def grant(self, caller: Partner, request: GrantConsentRequest) -> Consent:
        # The policy table already limits GrantConsent to portals; refusing here as well keeps
        # a transport that forgot to authorize from letting anyone record consents.
        if PORTAL_ROLE not in caller.roles:
            raise PermissionDenied(f"partner {caller.id!r} is not an SME portal: it cannot grant")
        subject = _subject(request)
        grantee = self._grantee(request.grantee)
        purpose = _purpose(grantee, request.purpose)
        now = self._clock()
        expires_at = _expire_time(request, now)
        ref = self._profiles.find_by_identifier(subject.scheme, subject.value)
        if ref is None:
            raise NotFound("no profile has the subject identifier", field="subject")
        row = ConsentRow(
            id=uuid.uuid4().hex,
            profile_id=ref.profile_id,
            subject_scheme=subject.scheme,
            subject_value=subject.value,
            grantee=grantee.id,
            purpose=purpose.name,
            granted_by=caller.id,
            created_at=now,
            expires_at=expires_at,
        )
        self._consents.add(row)
        return _consent(row, now)

    def _grantee(self, partner_id: str) -> Partner:
        if not partner_id:
            raise InvalidArgument("grantee is required", field="grantee")
        grantee = self._partners.get(partner_id)
        if grantee is None or not grantee.active:
            raise InvalidArgument(
                f"grantee {partner_id!r} is not an active registered partner", field="grantee"
            )
        return grantee

    # -- RevokeConsent, GetConsent -------------------------------------------------------------

    def revoke(self, caller: Partner, request: RevokeConsentRequest) -> Consent:
        """Revoke at once; a second revocation answers the consent as the first left it."""
        row = self._find(request.name, caller.id, grantee_sees=False)
        now = self._clock()
        revoked = self._consents.revoke(row.id, now)
        if revoked is None:  # unreachable: consents are never deleted
            raise NotFound(_NO_SUCH_CONSENT)
        return _consent(revoked, now)

    def get(self, caller: Partner, request: GetConsentRequest) -> Consent:
        return _consent(self._find(request.name, caller.id, grantee_sees=True), self._clock())

    def _find(self, name: str, caller_id: str, *, grantee_sees: bool) -> ConsentRow:
        """The named consent if the caller granted it (or received it, when ``grantee_sees``).

        A malformed name, an unknown id and someone else's consent raise the same NotFound, so
        that probing ids tells nothing about consents between other partners.
        """
        found = consent_id(name)
        row = self._consents.get(found) if found else None
        if row is None or not (
            row.granted_by == caller_id or (grantee_sees and row.grantee == caller_id)
        ):
            raise NotFound(_NO_SUCH_CONSENT)
        return row

    # -- ListConsents --------------------------------------------------------------------------

    def list(self, caller: Partner, request: ListConsentsRequest) -> ListConsentsResponse:
        """Consents the caller granted or received, newest first."""
        size = page_size(request.page_size)
        before = decode_time_token(request.page_token, "c") if request.page_token else None
        rows = self._consents.list_for(caller.id, before=before, limit=size + 1)
        now = self._clock()
        response = ListConsentsResponse(consents=[_consent(row, now) for row in rows[:size]])
        if len(rows) > size:
            response.next_page_token = encode_time_token(
                "c", rows[size - 1].created_at, rows[size - 1].id
            )
        return response

    # -- The check of a GetProfile request -----------------------------------------------------

    def check(self, caller_id: str, profile_id: str, purpose: str, consent_name: str) -> str:
        """The id of the consent that lets ``caller_id`` see the profile for ``purpose`` (a
        purpose that needs consent); PermissionDenied otherwise, with one message whatever is
        wrong, so a caller cannot learn which consents exist for whom."""
        if not consent_name:
            raise PermissionDenied(
                f"purpose {purpose} needs the subject's consent: cite it in `consent`",
                field="consent",
            )
        found = consent_id(consent_name)
        if found is None or not self._consents.valid(
            found, caller_id, profile_id, purpose, self._clock()
        ):
            raise PermissionDenied(_INVALID_CONSENT, field="consent")
        return found


def consent_id(name: str) -> str | None:
    """The id of the consent ``name`` cites, as ``consents/{id}`` or the bare id (32 lower-case
    hex digits); None when it is neither. The one reading of a consent reference: the callers
    refuse None with their own answer, which never tells a malformed name from an unknown one."""
    match = _NAME.fullmatch(name)
    return match.group(1) if match else None


def _subject(request: GrantConsentRequest) -> Validated:
    if not request.HasField("subject"):
        raise InvalidArgument("subject is required", field="subject")
    if not request.subject.scheme:
        raise InvalidArgument("subject.scheme is required", field="subject.scheme")
    scheme = normalize_scheme(request.subject.scheme, field="subject.scheme")
    return validate(scheme, request.subject.value, field="subject.value")


def _purpose(grantee: Partner, name: str) -> Purpose:
    """A purpose that needs consent and that the grantee's roles and registration allow."""
    try:
        purpose = purpose_for(grantee, name)
    except PermissionDenied as exc:
        # The grantee's limits make the request's purpose invalid; the portal itself is allowed.
        raise InvalidArgument(
            f"grantee {grantee.id!r} may not ask for purpose {name!r}", field="purpose"
        ) from exc
    if not purpose.needs_consent:
        raise InvalidArgument(f"purpose {name!r} needs no consent", field="purpose")
    return purpose


def _expire_time(request: GrantConsentRequest, now: datetime) -> datetime:
    if not request.HasField("expire_time"):
        raise InvalidArgument(f"expire_time is required: {TIMESTAMP_FORM}", field="expire_time")
    try:
        expires_at = request.expire_time.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(
            f"expire_time must be {TIMESTAMP_FORM} ({exc})", field="expire_time"
        ) from exc
    if not now < expires_at <= now + MAX_DURATION:
        raise InvalidArgument(
            f"expire_time must be in the future and at most {MAX_DURATION.days} days ahead",
            field="expire_time",
        )
    return expires_at


def _state(row: ConsentRow, now: datetime) -> ConsentState:
    # The same rule as ConsentStore.valid: revoked first, then expired at expires_at itself.
    if row.revoked_at is not None:
        return ConsentState.CONSENT_STATE_REVOKED
    if row.expires_at <= now:
        return ConsentState.CONSENT_STATE_EXPIRED
    return ConsentState.CONSENT_STATE_ACTIVE


def _consent(row: ConsentRow, now: datetime) -> Consent:
    consent = Consent(
        name=f"consents/{row.id}",
        profile=f"profiles/{row.profile_id}",
        subject=EntityId(scheme=row.subject_scheme, value=row.subject_value),
        grantee=row.grantee,
        purpose=row.purpose,
        granted_by=row.granted_by,
        state=_state(row, now),
    )
    consent.create_time.FromDatetime(row.created_at)
    consent.expire_time.FromDatetime(row.expires_at)
    if row.revoked_at is not None:
        consent.revoke_time.FromDatetime(row.revoked_at)
    return consent
