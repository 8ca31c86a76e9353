"""Credit reports: build, sign and record a report on a company, serve it, check a copy of it,
revoke it.

A report shows a profile version as GetProfile would show it to the caller: the same purpose
and consent checks (``ProfileExchange.get_profile``) decide what it may contain; an SME portal,
acting for the company, always obtains the company's own (the full view, purpose
``subject_access``), as it may dispute all of it. What each partner country recognises of the
company's AEO authorisations is decided by the active rule packs on the day of issue.

The document is signed with the report certificate (``report_signer``) and stored with its
change leaf naming its SHA-256, so anyone holding a copy can check it: a copy matches when its
digest is a report's. The state is worked out when asked: REVOKED, else EXPIRED, else
SUPERSEDED when the company's profile has a newer version than the one shown, else VALID.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import os
import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from cryptography import x509

from gateway.config import Settings
from gateway.errors import Conflict, InvalidArgument, NotFound, PermissionDenied, Unavailable
from gateway.identifiers import normalize_scheme, validate
from gateway.reports import (
    DocumentSigner,
    Recognition,
    ReportFacts,
    ReportFonts,
    render_report,
    sign_report,
)
from gateway.rules import Outcome
from gateway.schema.cxg.v1 import report_service_pb2 as pb
from gateway.schema.cxg.v1.profile_pb2 import CreditProfile, EntityId
from gateway.schema.cxg.v1.profile_service_pb2 import GetProfileRequest
from gateway.service._paging import decode_token, encode_token, page_size
from gateway.service.consents import PORTAL_ROLE
from gateway.service.offload import Offload
from gateway.service.profiles import ProfileExchange
from gateway.service.rules import RuleService
from gateway.storage import Database, ProfileStore
from gateway.storage.reports import ReportStore, StoredReport

__all__ = ["REPORT_PATH", "ReportService", "StoredReport", "report_signer"]
from gateway.trust import Partner
from gateway.trust.policy import FULL, PURPOSES

REPORT_PATH = "/r/"
SUBJECT_ACCESS = "subject_access"  # the purpose recorded for a company's own report
LANGUAGES = ("zh", "en", "ru", "zh+en", "zh+ru")
DEFAULT_LANGUAGE = "zh+en"
DEFAULT_VALID_DAYS, MAX_VALID_DAYS = 90, 366
DEFAULT_PERIOD_YEARS, MAX_PERIOD_YEARS = 3, 10
MAX_REASON = 500
# Report ids: 12 characters of Crockford's base 32 (60 random bits), read off paper and typed.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID = re.compile(r"(?:reports/)?([0-9A-HJKMNP-TV-Z]{12})")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PAGE_CURSOR = re.compile(r"([0-9]{1,20}):([0-9A-HJKMNP-TV-Z]{12})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_SUCH_REPORT = "no such report"
_OUTCOMES = {
    Outcome.RECOGNIZED: "recognized",
    Outcome.NOT_RECOGNIZED: "not_recognized",
    Outcome.OPEN: "open",
}


class ReportService:
    def __init__(
        self,
        db: Database,
        exchange: ProfileExchange,
        rules: RuleService,
        *,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = ReportStore(db)
        self._profiles = ProfileStore(db)
        self._exchange = exchange
        self._rules = rules
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._signer: DocumentSigner | None = None
        self._fonts: ReportFonts | None = None
        self._pool = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="cxg-report")

    # -- CreateReport ----------------------------------------------------------------------------

    def create(self, request: pb.CreateReportRequest, caller: Partner) -> StoredReport:
        """The whole use case in the calling thread (the command line)."""
        facts, report = self.prepare(request, caller)
        return self.store(report, self.document(facts))

    async def create_waiting(
        self, offload: Offload, request: pb.CreateReportRequest, caller: Partner
    ) -> pb.Report:
        """The same steps for the transports, from their event loop: the database's in its
        worker threads, within its deadline; the document's (CPU, and the time-stamping
        authority's answer) in the report threads, one per core, so that a burst of reports
        neither holds the database's workers nor is taken for a database that stalls."""
        facts, report = await offload.run(self.prepare, request, caller)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        pdf = await loop.run_in_executor(self._pool, context.run, self.document, facts)
        stored = await offload.run(self.store, report, pdf)
        return self.message(stored, with_pdf=True, state=pb.REPORT_STATE_VALID)

    def prepare(
        self, request: pb.CreateReportRequest, caller: Partner
    ) -> tuple[ReportFacts, StoredReport]:
        """Check the request and the caller's access, and gather what the report states: the
        facts to render, and the row to store once the document is signed."""
        subject = _subject(request.subject)
        language = request.language or DEFAULT_LANGUAGE
        if language not in LANGUAGES:
            raise InvalidArgument(
                f"language must be one of {', '.join(LANGUAGES)}", field="language"
            )
        now = self._clock()
        start, end = _period(request.period_start, request.period_end, now.date())
        if not 0 <= request.valid_days <= MAX_VALID_DAYS:
            raise InvalidArgument(
                f"valid_days must be between 1 and {MAX_VALID_DAYS} (0: {DEFAULT_VALID_DAYS})",
                field="valid_days",
            )
        ref = self._profiles.find_by_identifier(subject.scheme, subject.value)
        if ref is None:
            raise NotFound("no profile has the subject identifier", field="subject")
        if not request.purpose and PORTAL_ROLE in caller.roles:
            purpose, view = SUBJECT_ACCESS, FULL
            shown = self._exchange.subject_view(ref.profile_id)
        else:
            # The one access check of profiles: purpose, the caller's roles, consent.
            shown = self._exchange.get_profile(
                GetProfileRequest(
                    name=f"profiles/{ref.profile_id}",
                    purpose=request.purpose,
                    consent=request.consent,
                ),
                caller,
            )
            purpose, view = request.purpose, PURPOSES[request.purpose].view
        profile = CreditProfile.FromString(shown.profile_pb)
        report_id = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        expires_at = now + timedelta(days=request.valid_days or DEFAULT_VALID_DAYS)
        facts = ReportFacts(
            report_id=report_id,
            verify_url=self.verify_url(report_id),
            issuer=self._settings.gateway_id,
            profile=profile,
            profile_version=shown.version,
            profile_jws=shown.jws,
            purpose=purpose,
            languages=tuple(language.split("+")),
            period_start=start,
            period_end=end,
            issued_at=now,
            expires_at=expires_at,
            recognitions=self._recognitions(profile, now.date()),
            view=view,
        )
        report = StoredReport(
            id=report_id,
            profile_id=shown.profile_id,
            profile_version=shown.version,
            subject_scheme=subject.scheme,
            subject_value=subject.value,
            purpose=purpose,
            language=language,
            period_start=start.isoformat(),
            period_end=end.isoformat(),
            requested_by=caller.id,
            issued_at=now,
            expires_at=expires_at,
            revoked_at=None,
            revoke_reason="",
            sha256="",
            size_bytes=0,
            pdf=b"",
        )
        return facts, report

    def document(self, facts: ReportFacts) -> bytes:
        """The signed PDF (CPU-bound; waits for the time-stamping authority when one is set)."""
        fonts, signer = self._tools()
        return sign_report(
            render_report(facts, fonts), signer, timestamp_url=self._settings.report_tsa_url or None
        )

    def store(self, report: StoredReport, pdf: bytes) -> StoredReport:
        """Record the report with its signed document, and the audit leaf naming its digest."""
        stored = replace(
            report, sha256=hashlib.sha256(pdf).hexdigest(), size_bytes=len(pdf), pdf=pdf
        )
        self._store.add(stored)
        return stored

    def _recognitions(self, profile: CreditProfile, day: date) -> tuple[Recognition, ...]:
        found = []
        for aeo in profile.aeo:
            number = aeo.authorisation_number
            for country, decision in self._rules.recognitions(number, day):
                reason = decision.reason
                pack = (
                    f"{decision.pack} (sha256 {decision.pack_sha256[:12]})"
                    if decision.pack_id
                    else ""
                )
                found.append(
                    Recognition(
                        aeo_number=number,
                        importing_country=country,
                        outcome=_OUTCOMES[decision.outcome],
                        rule=reason.rule,
                        rule_pack=pack,
                        reason=(reason.zh, reason.en, reason.ru),
                    )
                )
        return tuple(found)

    def _tools(self) -> tuple[ReportFonts, DocumentSigner]:
        """The font and the signing key, loaded on the first report (a gateway that issues
        none never needs either)."""
        with self._lock:
            if self._fonts is None:
                self._fonts = ReportFonts.find(self._settings.report_font)
            if self._signer is None:
                self._signer = report_signer(self._settings)
            return self._fonts, self._signer

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def verify_url(self, report_id: str) -> str:
        return f"{self._settings.scan_base_url}{REPORT_PATH}{report_id}"

    # -- GetReport, ListReports ------------------------------------------------------------------

    def get(self, request: pb.GetReportRequest, caller: Partner) -> StoredReport:
        """The report with its document, for whoever asked for it, SME portals and operators;
        anyone else is answered as if it did not exist."""
        report = self._store.get(_report_id(request.name), with_pdf=True)
        if report is None or not _may_see(caller, report):
            raise NotFound(_NO_SUCH_REPORT, field="name")
        return report

    def list(
        self, request: pb.ListReportsRequest, caller: Partner
    ) -> tuple[list[StoredReport], str]:
        size = page_size(request.page_size, default=50)
        before = _decode_page(request.page_token) if request.page_token else None
        if request.HasField("subject"):
            if not caller.roles & {PORTAL_ROLE, "operator"}:
                raise PermissionDenied(
                    "only the company's portal and operators list reports about a company",
                    field="subject",
                )
            subject = _subject(request.subject)
            ref = self._profiles.find_by_identifier(subject.scheme, subject.value)
            if ref is None:
                raise NotFound("no profile has the subject identifier", field="subject")
            rows = self._store.page(
                profile_id=ref.profile_id, requested_by=None, before=before, limit=size + 1
            )
        else:
            rows = self._store.page(
                profile_id=None, requested_by=caller.id, before=before, limit=size + 1
            )
        token = _encode_page(rows[size - 1]) if len(rows) > size else ""
        return rows[:size], token

    def list_message(
        self, request: pb.ListReportsRequest, caller: Partner
    ) -> pb.ListReportsResponse:
        rows, token = self.list(request, caller)
        latest = self._store.latest_versions({row.profile_id for row in rows})  # one query
        return pb.ListReportsResponse(
            reports=[
                self.message(row, state=self.state(row, latest.get(row.profile_id, 0)))
                for row in rows
            ],
            next_page_token=token,
        )

    # -- VerifyReport ----------------------------------------------------------------------------

    def verification(self, request: pb.VerifyReportRequest) -> pb.ReportVerification:
        digest, report = self.verify(request)
        if report is None:
            return pb.ReportVerification(matches=False, sha256=digest)
        message = self.message(report)
        return pb.ReportVerification(
            matches=True, state=message.state, report=message, sha256=digest
        )

    def verify(self, request: pb.VerifyReportRequest) -> tuple[str, StoredReport | None]:
        """The digest checked and the report it is (None: no report of this gateway, or not the
        report named)."""
        which = request.WhichOneof("document")
        if which == "pdf":
            digest = hashlib.sha256(request.pdf).hexdigest()
        elif which == "sha256":
            digest = request.sha256.strip().lower()
            if not _SHA256.fullmatch(digest):
                raise InvalidArgument("sha256 is 64 hexadecimal digits", field="sha256")
        else:
            raise InvalidArgument("set sha256 or pdf", field="sha256")
        named = _report_id(request.name) if request.name else None
        report = self._store.by_digest(digest)
        if report is not None and named is not None and report.id != named:
            report = None
        return digest, report

    def find(self, report_id: str) -> StoredReport | None:
        """A report by id without its document (the verification page), None if there is none
        or the id is malformed."""
        try:
            return self._store.get(_report_id(report_id))
        except NotFound:
            return None

    def state(self, report: StoredReport, latest: int | None = None) -> pb.ReportState:
        """The report's state now; ``latest``: its profile's newest version, when known."""
        if report.revoked_at is not None:
            return pb.REPORT_STATE_REVOKED
        if report.expires_at <= self._clock():
            return pb.REPORT_STATE_EXPIRED
        if latest is None:
            latest = self._store.latest_versions([report.profile_id]).get(report.profile_id, 0)
        if latest > report.profile_version:
            return pb.REPORT_STATE_SUPERSEDED
        return pb.REPORT_STATE_VALID

    # -- RevokeReport ----------------------------------------------------------------------------

    def revoke(self, request: pb.RevokeReportRequest, caller: Partner) -> StoredReport:
        if "operator" not in caller.roles:  # the policy says so too; fail closed here as well
            raise PermissionDenied("only operators revoke reports")
        report_id = _report_id(request.name)
        reason = request.reason.strip()
        if not reason:
            raise InvalidArgument("reason is required", field="reason")
        if len(reason) > MAX_REASON:
            raise InvalidArgument(f"reason is at most {MAX_REASON} characters", field="reason")
        revoked = self._store.revoke(report_id, self._clock(), reason)
        if revoked is None:
            raise NotFound(_NO_SUCH_REPORT, field="name")
        report, changed = revoked
        if not changed:
            raise Conflict("the report is revoked already", field="name")
        return report

    # -- the wire form -----------------------------------------------------------------------

    def message(
        self,
        report: StoredReport,
        *,
        with_pdf: bool = False,
        state: pb.ReportState | None = None,
    ) -> pb.Report:
        """The wire form; ``state`` when the caller knows it (a report just made is VALID)."""
        message = pb.Report(
            name=f"reports/{report.id}",
            profile=f"profiles/{report.profile_id}",
            profile_version=report.profile_version,
            subject=EntityId(scheme=report.subject_scheme, value=report.subject_value),
            purpose=report.purpose,
            language=report.language,
            period_start=report.period_start,
            period_end=report.period_end,
            requested_by=report.requested_by,
            state=self.state(report) if state is None else state,
            revoke_reason=report.revoke_reason,
            sha256=report.sha256,
            verify_url=self.verify_url(report.id),
            size_bytes=report.size_bytes,
        )
        message.issue_time.FromDatetime(report.issued_at)
        message.expire_time.FromDatetime(report.expires_at)
        if report.revoked_at is not None:
            message.revoke_time.FromDatetime(report.revoked_at)
        if with_pdf:
            message.pdf = report.pdf
        return message


def report_signer(settings: Settings) -> DocumentSigner:
    """The key and certificate that sign reports: a token's key with ``CXG_REPORT_CERT``, a
    key file with it, or (development) a certificate the development PKI issues on first use."""
    if settings.pkcs11_report_key_label:
        if settings.report_cert is None:
            raise Unavailable(
                "a report key in the token needs its certificate chain", field="CXG_REPORT_CERT"
            )
        from gateway.signing.pkcs11 import Pkcs11Token

        key = Pkcs11Token.from_settings(settings).key(
            settings.pkcs11_report_key_label, "CXG_PKCS11_REPORT_KEY_LABEL"
        )
        try:
            chain = x509.load_pem_x509_certificates(settings.report_cert.read_bytes())
        except (OSError, ValueError) as exc:
            raise Unavailable(
                f"{settings.report_cert} is not a readable PEM certificate chain: {exc}",
                field="CXG_REPORT_CERT",
            ) from exc
        return DocumentSigner.from_signer(key, chain)
    if settings.report_cert is not None:
        if settings.report_key is None:
            raise Unavailable("CXG_REPORT_CERT needs its private key", field="CXG_REPORT_KEY")
        return DocumentSigner.from_pem_files(settings.report_cert, settings.report_key)
    from gateway.trust import pki

    directory = settings.dev_pki_dir
    cert, key_file = directory / "report-signer.pem", directory / "report-signer-key.pem"
    if not cert.exists():
        with contextlib.suppress(Conflict):  # another process issued it first: use that one
            pki.issue_document_signer(directory)
    return DocumentSigner.from_pem_files(cert, key_file)


def _subject(entity: EntityId) -> EntityId:
    if not entity.scheme:
        raise InvalidArgument("subject.scheme is required", field="subject.scheme")
    scheme = normalize_scheme(entity.scheme, field="subject.scheme")
    checked = validate(scheme, entity.value, field="subject.value")
    return EntityId(scheme=checked.scheme, value=checked.value)


def _period(start_text: str, end_text: str, today: date) -> tuple[date, date]:
    end = _date(end_text, "period_end") if end_text else today
    start = (
        _date(start_text, "period_start")
        if start_text
        else end.replace(year=end.year - DEFAULT_PERIOD_YEARS, day=min(end.day, 28))
    )
    if end > today:
        raise InvalidArgument("period_end cannot be in the future", field="period_end")
    if start > end:
        raise InvalidArgument("period_start is after period_end", field="period_start")
    if (end - start).days > MAX_PERIOD_YEARS * 366:
        raise InvalidArgument(
            f"the period is at most {MAX_PERIOD_YEARS} years", field="period_start"
        )
    return start, end


def _date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{field} is an ISO 8601 date (YYYY-MM-DD)", field=field) from None


def _report_id(name: str) -> str:
    """The id a name or a bare id gives, in capitals (people type ids off paper)."""
    prefix, _, rest = name.rpartition("/")
    match = _ID.fullmatch(f"{prefix}/{rest.upper()}" if prefix else rest.upper())
    if match is None:
        raise NotFound(_NO_SUCH_REPORT, field="name")
    return match.group(1)


def _may_see(caller: Partner, report: StoredReport) -> bool:
    return report.requested_by == caller.id or bool(caller.roles & {PORTAL_ROLE, "operator"})


def _encode_page(last: StoredReport) -> str:
    micros = (last.issued_at - _EPOCH) // timedelta(microseconds=1)
    return encode_token("r", f"{micros}:{last.id}")


def _decode_page(token: str) -> tuple[datetime, str]:
    cursor = decode_token(token, "r", _PAGE_CURSOR)
    try:
        return _EPOCH + timedelta(microseconds=int(cursor[1])), cursor[2]
    except OverflowError as exc:
        raise InvalidArgument(
            "page_token is not one this gateway issued for this request", field="page_token"
        ) from exc
