"""Correction use cases: disputes (异议) filed, answered, read and listed, and credit repairs
(信用修复) recorded. Both transports and the CLI call this one core with the authenticated
``Partner``; who filed or answered is always that caller, never a request field.

A dispute that the caller may not see answers exactly like one that does not exist. Deadlines
are working days of the configured calendar (``gateway/corrections/calendar.py``); the legal
sources of the defaults are in the README's "Disputes and credit repair" section.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Connection

from gateway.config import Settings
from gateway.corrections.calendar import WorkingCalendar
from gateway.corrections.views import record_key, served, stored_pointer
from gateway.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from gateway.profiles import canonical_json
from gateway.schema.cxg.v1 import correction_service_pb2 as pb
from gateway.schema.cxg.v1.profile_pb2 import (
    AuthorityType,
    CreditProfile,
    PublicRecordKind,
    RepairState,
)
from gateway.service._paging import decode_time_token, encode_time_token, page_size
from gateway.service.consents import PORTAL_ROLE
from gateway.service.profiles import ProfileExchange
from gateway.storage import Database, ProfileStore
from gateway.storage.audit import ChangeLog
from gateway.storage.corrections import (
    CORRECTED,
    OPEN,
    RECIPIENT,
    REJECTED,
    SUBJECT,
    UPHELD,
    CorrectionStore,
    DisputeRow,
    Overlay,
    Repair,
    write_repair,
)
from gateway.storage.profiles import StoredVersion
from gateway.trust import PUBLISHER_ROLES, Partner
from gateway.trust.policy import CUSTOMS, FULL, PURPOSES, SUMMARY

_PROFILE = re.compile(r"profiles/([0-9a-f]{32})")
_DISPUTE = re.compile(r"disputes/([0-9a-f]{32})")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
OPERATOR = "operator"
MAX_FIELDS = 50
MAX_VERSION = 2**31 - 1  # versions are 32-bit in the database
MAX_TEXT = 2000
MAX_AUTHORITY = 200
# Widest first: a recipient that received a version under several purposes disputes it as the
# widest of its views showed it.
_VIEW_ORDER = (FULL, CUSTOMS, SUMMARY)
_STATES = {
    pb.DISPUTE_STATUS_OPEN: OPEN,
    pb.DISPUTE_STATUS_CORRECTED: CORRECTED,
    pb.DISPUTE_STATUS_UPHELD: UPHELD,
    pb.DISPUTE_STATUS_REJECTED: REJECTED,
}
_FILERS = {SUBJECT: pb.DISPUTE_FILER_SUBJECT, RECIPIENT: pb.DISPUTE_FILER_RECIPIENT}
# The negative records a repair applies to (a licence is not repaired).
_REPAIRABLE = (
    PublicRecordKind.PUBLIC_RECORD_KIND_PENALTY,
    PublicRecordKind.PUBLIC_RECORD_KIND_DISHONESTY_LIST,
)


class CorrectionService:
    def __init__(
        self,
        store: CorrectionStore,
        profiles: ProfileStore,
        exchange: ProfileExchange,
        changes: ChangeLog,
        *,
        calendar: WorkingCalendar,
        answer_days: int,
        days_counted: str,
        notice_lookback: timedelta,
        sco_review: str,
        codes_changed: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._profiles = profiles
        self._exchange = exchange
        self._changes = changes
        self._calendar = calendar
        self._answer_days = answer_days
        self._days_counted = days_counted
        self._notice_lookback = notice_lookback
        self._sco_review = sco_review
        self._codes_changed = codes_changed
        self._clock = clock

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        db: Database,
        exchange: ProfileExchange,
        *,
        codes_changed: Callable[[], None] = lambda: None,
    ) -> CorrectionService:
        return cls(
            CorrectionStore(db),
            ProfileStore(db),
            exchange,
            ChangeLog(db),
            calendar=WorkingCalendar(
                settings.calendar_holidays, settings.calendar_working_weekend_days
            ),
            answer_days=settings.dispute_answer_days,
            days_counted=settings.dispute_days_counted,
            notice_lookback=timedelta(days=settings.notice_lookback_days),
            sco_review=settings.dispute_sco_review,
            codes_changed=codes_changed,
        )

    # -- FileDispute ---------------------------------------------------------------------------

    def file(self, caller: Partner, request: pb.FileDisputeRequest) -> pb.Dispute:
        profile_id = _profile_id(request.profile, "profile")
        if not 1 <= request.version <= MAX_VERSION:
            raise InvalidArgument(
                "version must be the version disputed (1 or more)", field="version"
            )
        if not 1 <= len(request.fields) <= MAX_FIELDS:
            raise InvalidArgument(f"name 1 to {MAX_FIELDS} disputed fields", field="fields")
        reason = _text(request.reason, "reason", required=True)
        if not _SHA256.fullmatch(request.evidence_sha256):
            raise InvalidArgument(
                "evidence_sha256 is the hex SHA-256 of the evidence (64 lower-case hex digits)",
                field="evidence_sha256",
            )
        ref = self._profiles.find(profile_id, request.version)
        if ref is None:
            raise NotFound(
                f"no version {request.version} of profiles/{profile_id}", field="version"
            )
        publisher = self._profiles.publisher_of(profile_id) or ""
        if caller.id == publisher:
            raise PermissionDenied(
                "the publisher corrects its own data by publishing a new version", field="profile"
            )
        if PORTAL_ROLE in caller.roles:
            filer, view = SUBJECT, FULL  # the company disputes its own data, all of it
        else:
            views = [
                PURPOSES[p].view for p in self._store.received(caller.id, profile_id, ref.version)
            ]
            if not views:
                raise PermissionDenied(
                    f"partner {caller.id!r} has not received version {ref.version} of this"
                    " profile: only the subject and a recipient may dispute it",
                    field="version",
                )
            filer, view = RECIPIENT, min(views, key=_VIEW_ORDER.index)
        overlay = self._store.overlay(profile_id, ref.version)
        shown = served(
            CreditProfile.FromString(self._profiles.load(ref.row_id).profile_pb),
            view,
            Overlay(repaired=overlay.repaired),  # as it was received: without others' marks
        )
        document = json.loads(canonical_json(shown))
        fields = [
            stored_pointer(pointer, shown, document, f"fields[{i}]")
            for i, pointer in enumerate(request.fields)
        ]
        now = self._clock()
        dispute = self._store.file(
            DisputeRow(
                id=uuid.uuid4().hex,
                profile_id=profile_id,
                version=ref.version,
                fields=tuple(dict.fromkeys(fields)),
                filer_fields=tuple(dict.fromkeys(request.fields)),
                reason=reason,
                evidence_sha256=request.evidence_sha256,
                filed_by=caller.id,
                filer=filer,
                publisher=publisher,
                state=OPEN,
                filed_at=now,
                due_date=self._calendar.due_date(
                    now.date(), self._answer_days, self._days_counted
                ).isoformat(),
            ),
            review_codes=self._sco_review == "any"
            or (self._sco_review == "subject" and filer == SUBJECT),
        )
        self._codes_changed()  # the scan page says "under dispute" at once
        return self._message(dispute, now)

    # -- AnswerDispute -------------------------------------------------------------------------

    def answer(self, caller: Partner, request: pb.AnswerDisputeRequest) -> pb.Dispute:
        dispute = self._visible(caller, request.name, answering=True)
        state = _STATES.get(request.status)
        if state in (None, OPEN):
            raise InvalidArgument("status must be CORRECTED, UPHELD or REJECTED", field="status")
        reasons = _text(request.reasons, "reasons", required=state != CORRECTED)
        corrected: int | None = None
        if state == CORRECTED:
            corrected = request.corrected_version
            if (
                not dispute.version < corrected <= MAX_VERSION
                or self._profiles.find(dispute.profile_id, corrected) is None
            ):
                raise InvalidArgument(
                    f"corrected_version must name a version published after version"
                    f" {dispute.version}: publish the correction first",
                    field="corrected_version",
                )
        elif request.corrected_version:
            raise InvalidArgument(
                "corrected_version goes with status CORRECTED only", field="corrected_version"
            )
        if dispute.state != OPEN:
            raise Conflict(
                f"disputes/{dispute.id} was already answered: {dispute.state}", field="name"
            )
        now = self._clock()
        result = self._store.answer(
            dispute.id, state, reasons, corrected, now, now - self._notice_lookback
        )
        assert result is not None  # disputes are never deleted
        answered, changed = result
        self._codes_changed()
        if not changed:  # another answer came first
            raise Conflict(
                f"disputes/{dispute.id} was already answered: {answered.state}", field="name"
            )
        return self._message(answered, now)

    # -- GetDispute, ListDisputes ----------------------------------------------------------------

    def get(self, caller: Partner, request: pb.GetDisputeRequest) -> pb.Dispute:
        return self._message(self._visible(caller, request.name), self._clock())

    def list(self, caller: Partner, request: pb.ListDisputesRequest) -> pb.ListDisputesResponse:
        """Newest first: the caller's own (filed or to answer); all of them for operators."""
        return self.overview(request, party=None if OPERATOR in caller.roles else caller.id)

    def overview(
        self, request: pb.ListDisputesRequest, *, party: str | None = None
    ) -> pb.ListDisputesResponse:
        """Disputes newest first: ``party``'s, or all (the operator at the command line)."""
        size = page_size(request.page_size)
        profile_id = _profile_id(request.profile, "profile") if request.profile else ""
        before = decode_time_token(request.page_token, "d") if request.page_token else None
        now = self._clock()
        rows = self._store.find(
            party=party,
            profile_id=profile_id,
            open_only=request.open_only,
            due_before=now.date() if request.overdue_only else None,
            before=before,
            limit=size + 1,
        )
        response = pb.ListDisputesResponse(disputes=[self._message(r, now) for r in rows[:size]])
        if len(rows) > size:
            response.next_page_token = encode_time_token(
                "d", rows[size - 1].filed_at, rows[size - 1].id
            )
        return response

    def _visible(self, caller: Partner, name: str, *, answering: bool = False) -> DisputeRow:
        match = _DISPUTE.fullmatch(name)
        if match is None:
            raise InvalidArgument(
                "name must be disputes/ and 32 lower-case hex digits", field="name"
            )
        dispute = self._store.get(match[1])
        # Only the publisher answers; its filer, the publisher and operators read it; to anyone
        # else it does not exist.
        if dispute is None:
            allowed = False
        elif answering:
            allowed = caller.id == dispute.publisher
        else:
            allowed = caller.id in (dispute.publisher, dispute.filed_by) or OPERATOR in caller.roles
        if dispute is None or not allowed:
            raise NotFound(f"no dispute {name}", field="name")
        return dispute

    def _message(self, dispute: DisputeRow, now: datetime) -> pb.Dispute:
        message = pb.Dispute(
            name=f"disputes/{dispute.id}",
            profile=f"profiles/{dispute.profile_id}",
            version=dispute.version,
            fields=list(dispute.filer_fields),
            reason=dispute.reason,
            evidence_sha256=dispute.evidence_sha256,
            filed_by=dispute.filed_by,
            filer=_FILERS[dispute.filer],
            status=next(k for k, v in _STATES.items() if v == dispute.state),
            file_time=_timestamp(dispute.filed_at),
            due_date=dispute.due_date,
            overdue=dispute.state == OPEN and dispute.due_date < now.date().isoformat(),
            answer_reasons=dispute.answer_reasons or "",
            corrected_version=dispute.corrected_version or 0,
        )
        if dispute.answered_at is not None:
            message.answer_time.CopyFrom(_timestamp(dispute.answered_at))
        return message

    # -- RecordRepair --------------------------------------------------------------------------

    def record_repair(self, caller: Partner, request: pb.RecordRepairRequest) -> pb.RepairReceipt:
        """Store the repair as the next version (the record marked REPAIRED, the grade
        recomputed), with the repair's row, events and leaf in the same transaction."""
        profile_id = _profile_id(request.profile, "profile")
        if not caller.roles & PUBLISHER_ROLES:
            raise PermissionDenied(f"partner {caller.id!r} has no role that may publish profiles")
        if request.kind not in _REPAIRABLE:
            raise InvalidArgument(
                "kind must be PUBLIC_RECORD_KIND_PENALTY or PUBLIC_RECORD_KIND_DISHONESTY_LIST",
                field="kind",
            )
        if not request.decision_number or len(request.decision_number) > 200:
            raise InvalidArgument("decision_number: 1 to 200 characters", field="decision_number")
        _iso_date(request.decision_date, "decision_date")
        now = self._clock()
        if _iso_date(request.repair_date, "repair_date") > now.date():
            raise InvalidArgument("repair_date must not be in the future", field="repair_date")
        authority = _text(
            request.repair_authority, "repair_authority", required=True, limit=MAX_AUTHORITY
        )
        if len(request.repair_decision_number) > 200:
            raise InvalidArgument("at most 200 characters", field="repair_decision_number")
        ref = self._profiles.find(profile_id)
        if ref is None or self._profiles.publisher_of(profile_id) != caller.id:
            # Another publisher's profile is as absent as one that does not exist.
            raise NotFound(
                f"no profile {request.profile} published by {caller.id!r}", field="profile"
            )
        key = (request.kind, request.decision_number, request.decision_date)
        latest = CreditProfile.FromString(self._profiles.load(ref.row_id).profile_pb)
        repaired = self._store.overlay(profile_id, ref.version).repaired
        record = next((r for r in latest.public_records if record_key(r) == key), None)
        if record is None:
            raise NotFound(
                f"version {ref.version} has no {PublicRecordKind.Name(request.kind)} record"
                f" {request.decision_number!r} of {request.decision_date}",
                field="decision_number",
            )
        if key in repaired:
            raise Conflict("this record's repair is already recorded", field="decision_number")
        record.repair_state = RepairState.REPAIR_STATE_REPAIRED
        repair = Repair(
            profile_id=profile_id,
            record=key,
            repair_date=request.repair_date,
            repair_authority=authority,
            repair_decision_number=request.repair_decision_number,
            recorded_by=caller.id,
            recorded_at=now,
            customs_record=record.authority_type == AuthorityType.AUTHORITY_TYPE_CUSTOMS,
        )
        digest = hashlib.sha256(
            b"repair\n" + request.SerializeToString(deterministic=True)
        ).hexdigest()
        since = now - self._notice_lookback

        def recorded(conn: Connection, stored: StoredVersion) -> None:
            if stored.version != ref.version + 1:  # rolled back: nothing stored
                raise Conflict(
                    f"profiles/{profile_id} changed while the repair was recorded; send it again",
                    field="profile",
                )
            write_repair(conn, self._changes, repair, stored.version, since)

        stored = self._exchange.republish(latest, caller, digest, recorded)
        return pb.RepairReceipt(
            profile=f"profiles/{profile_id}", version=stored.version, record_time=_timestamp(now)
        )


def _profile_id(name: str, field: str) -> str:
    match = _PROFILE.fullmatch(name)
    if match is None:
        raise InvalidArgument("must be profiles/ and 32 lower-case hex digits", field=field)
    return match[1]


def _text(text: str, field: str, *, required: bool, limit: int = MAX_TEXT) -> str:
    text = text.strip()
    if required and not text:
        raise InvalidArgument(f"{field} is required", field=field)
    if len(text) > limit:
        raise InvalidArgument(f"at most {limit} characters", field=field)
    if "\x00" in text:
        raise InvalidArgument("must not contain NUL", field=field)
    return text


def _iso_date(text: str, field: str) -> date:
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidArgument("an ISO 8601 date, e.g. 2026-04-01", field=field) from exc


def _timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp
