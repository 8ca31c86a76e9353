"""Profile exchange use cases: get, publish, list versions, search.

Both transports build the same request messages (proto/cxg/v1) and call this one core. A served
profile is signed once, at publication; every later read serves those stored bytes, and each
version's wire encodings are kept in a bounded cache since a version never changes.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import IO, Any

from sqlalchemy import Connection

from gateway import mapping
from gateway.config import Settings
from gateway.corrections.views import served
from gateway.errors import (
    Conflict,
    GatewayError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from gateway.identifiers import normalize_scheme, validate
from gateway.mapping import Adapter, Record
from gateway.observe import metrics
from gateway.profiles import canonical_json, legal_names, parse_profile_json, validate_profile
from gateway.schema.cxg.v1.profile_pb2 import CommonGrade, CreditProfile
from gateway.schema.cxg.v1.profile_service_pb2 import (
    GetProfileRequest,
    ListProfileVersionsRequest,
    ListProfileVersionsResponse,
    ProfileSummary,
    ProfileVersion,
    PublishProfileRequest,
    PublishReceipt,
    SearchProfilesRequest,
    SearchProfilesResponse,
    SignedProfile,
)
from gateway.service._paging import decode_token, encode_token, page_size
from gateway.service.audit import served as version_subjects
from gateway.service.consents import ConsentService
from gateway.service.relays import OnBehalfOf, relay_subjects
from gateway.service.rules import RuleService
from gateway.signing import KeyRing
from gateway.storage import Database, NewVersion, ProfileStore, Rendered, VersionRef
from gateway.storage.corrections import NO_OVERLAY, CorrectionStore, Overlay
from gateway.storage.profiles import StoredVersion
from gateway.trust import PUBLISHER_ROLES, Partner, PartnerDirectory, PartnerRegistry
from gateway.trust.policy import FULL, purpose_for

# (caller id, profile id, purpose, cited consent name) -> consent id; raises when not valid.
ConsentCheck = Callable[[str, str, str, str], str]
# The profile's grade on the common scale as of a day, by the active rule packs (None: no grade).
CommonGradeOf = Callable[[CreditProfile, date], CommonGrade | None]

PROFILE_TYP = "cxg-profile+jws"
# What a partner signs to publish: not PROFILE_TYP, which names what the gateway serves, so that
# neither can pass for the other. A partner-format publication has it too, with ``cty`` the
# format's media type.
PUBLISH_TYP = "cxg-publish+jws"
MAX_IMPORT_ERRORS = 100
RECEIPT_TYP = "cxg-receipt+jws"
_NAME = re.compile(r"^profiles/([0-9a-f]{32})$")
# Page cursors: a version number (below 2**31) or a profile id.
_VERSION_CURSOR = re.compile(r"[1-9][0-9]{0,9}")
_PROFILE_CURSOR = re.compile(r"[0-9a-f]{32}")


class SignedVersion:
    """One profile version as one view shows it, with its two wire encodings of
    ``cxg.v1.SignedProfile``. The full view is the JWS signed at publication."""

    __slots__ = (
        "as_json",
        "as_protobuf",
        "audit_subjects",
        "jws",
        "profile_id",
        "profile_pb",
        "version",
    )

    def __init__(
        self,
        profile_id: str,
        version: int,
        jws: str,
        profile_pb: bytes,
        profile_json: bytes | None = None,
    ) -> None:
        self.profile_id = profile_id
        self.version = version
        self.jws = jws
        self.profile_pb = profile_pb
        if profile_json is None:  # the payload is the canonical JSON, as signed
            profile_json = base64.urlsafe_b64decode(jws.split(".")[1] + "==")
        # proto3 JSON of SignedProfile with the profile embedded as its canonical JSON bytes.
        self.as_json = b'{"jws":"' + jws.encode("ascii") + b'","profile":' + profile_json + b"}"
        self.as_protobuf = SignedProfile(
            jws=jws, profile=CreditProfile.FromString(profile_pb)
        ).SerializeToString()
        # What the audit leaf of the answer names: the version served (who received what).
        self.audit_subjects: tuple[str, ...] = tuple(version_subjects(profile_id, version))

    def naming(self, *subjects: str) -> SignedVersion:
        """This answer, its audit leaf naming ``subjects`` as well (a cached one is shared)."""
        named = copy.copy(self)
        named.audit_subjects = self.audit_subjects + subjects
        return named


@dataclass
class ImportSummary:
    """What a bulk import did; ``errors`` keeps the first ``MAX_IMPORT_ERRORS`` refusals."""

    records: int = 0
    imported: int = 0
    unchanged: int = 0
    refused: int = 0
    errors: list[tuple[int, str, GatewayError]] = field(default_factory=list)

    def refuse(self, record: Record, error: GatewayError) -> None:
        self.refused += 1
        if len(self.errors) < MAX_IMPORT_ERRORS:
            self.errors.append((record.number, record.location, error))


class ProfileExchange:
    def __init__(
        self,
        store: ProfileStore,
        keyring: KeyRing,
        partners: PartnerRegistry,
        *,
        gateway_id: str,
        check_consent: ConsentCheck,
        accepted_legacy_ids: frozenset[str] = frozenset(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache_size: int = 8192,
        formats: Callable[[str], Adapter] = mapping.adapter,
        common_grade: CommonGradeOf = lambda profile, day: None,
        overlay: Callable[[str, int], Overlay] = lambda profile_id, version: NO_OVERLAY,
        import_workers: int | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._partners = partners
        self._gateway_id = gateway_id
        self._check_consent = check_consent
        self._accepted_legacy_ids = accepted_legacy_ids
        self._clock = clock
        self._formats = formats
        self._common_grade = common_grade
        self._overlay = overlay
        # Processes that map a large import's records (None: one per core; 0: none).
        self._import_workers = import_workers
        self.on_behalf_of = OnBehalfOf(partners, gateway_id, clock)
        # Set by the gateway to its federation's relays (gateway/service/federation.py).
        self.relay: Callable[[GetProfileRequest, Partner], SignedVersion | None] = (
            lambda request, caller: None
        )
        self.relay_search: Callable[
            [SearchProfilesRequest, Partner], SearchProfilesResponse | None
        ] = lambda request, caller: None
        # A version never changes, so each view of it is rendered and signed once per format
        # and marks generation (what disputes and repairs add to every view of the profile).
        self._signed: Callable[[int, int, str, str], SignedVersion] = lru_cache(maxsize=cache_size)(
            self._render_view
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        db: Database,
        directory: PartnerDirectory,
        *,
        rules: RuleService | None = None,
    ) -> ProfileExchange:
        """The exchange as every entry point builds it (the server, ``cxg import``, ``cxg
        demo``): always with the active rule packs' common grade, so that a record stores the
        same version whichever way it comes in. ``rules`` is the caller's own rule service
        (the server shares one keyring among all its services); without it one is built."""
        rules = rules or RuleService.from_settings(settings, db)
        return cls(
            ProfileStore(db),
            rules.keyring,
            PartnerRegistry(directory),
            gateway_id=settings.gateway_id,
            check_consent=ConsentService(db).check,
            accepted_legacy_ids=settings.accepted_legacy_ids,
            common_grade=rules.common_grade,
            overlay=CorrectionStore(db).overlay,
        )

    @property
    def keyring(self) -> KeyRing:
        return self._keyring

    # -- GetProfile ----------------------------------------------------------------------------

    def get_profile(self, request: GetProfileRequest, caller: Partner) -> SignedVersion:
        """The profile version as the caller's purpose may see it (data minimization)."""
        purpose = purpose_for(caller, request.purpose)
        relayed_for = self.on_behalf_of.check(request.on_behalf_of, caller, purpose=purpose.name)
        if request.version < 0:
            raise InvalidArgument(
                "version must be 0 (latest) or a positive version number", field="version"
            )
        target = request.WhichOneof("target")
        ref: VersionRef | None
        if target == "name":
            if request.name.startswith("peers/"):  # a peer's profile, as its search named it
                if relayed_for:
                    raise InvalidArgument("a relayed request names a profile here", field="name")
                relayed = self.relay(request, caller)
                if relayed is None:
                    raise NotFound("this gateway has no peers", field="name")
                return relayed
            ref = self._store.find(_profile_id(request.name), request.version)
        elif target == "id":
            # A company a peer gateway holds is answered by the peer (never relayed twice).
            if not relayed_for and (relayed := self.relay(request, caller)) is not None:
                return relayed
            scheme, value = _lookup_key(request.id.scheme, request.id.value)
            ref = self._store.find_by_identifier(scheme, value, request.version)
        else:
            raise InvalidArgument("set either name or id", field="name")
        if ref is None:
            raise NotFound(
                "no such profile" + (f" version {request.version}" if request.version else "")
            )
        if purpose.needs_consent:
            self._check_consent(caller.id, ref.profile_id, purpose.name, request.consent)
        if request.format:
            self._formats(request.format)  # an unknown format is refused before any work
        signed = self._signed(ref.row_id, ref.marks, purpose.view, request.format)
        return signed.naming(*relay_subjects(relayed_for)) if relayed_for else signed

    def subject_view(self, profile_id: str) -> SignedVersion:
        """The latest version as the company itself sees it: all of it, with the marks of its
        disputes and repairs (what an SME portal files disputes against)."""
        ref = self._store.find(profile_id)
        if ref is None:
            raise NotFound("no such profile")
        return self._signed(ref.row_id, ref.marks, FULL, "")

    def _render_view(self, row_id: int, marks: int, view: str, format_name: str) -> SignedVersion:
        stored = self._store.load(row_id)
        full = CreditProfile.FromString(stored.profile_pb)
        # Repaired records withheld, open disputes marked (gateway/corrections/views.py).
        overlay = self._overlay(stored.profile_id, stored.version) if marks else NO_OVERLAY
        shown = served(full, view, overlay)
        if shown is full and not format_name:  # the full view as signed at publication
            return SignedVersion(stored.profile_id, stored.version, stored.jws, stored.profile_pb)
        header: dict[str, Any] = {
            "typ": PROFILE_TYP,
            "iat": int(time.time()),
            "iss": self._gateway_id,
        }
        if view != FULL:
            header["view"] = view
        if not format_name:
            jws = self._keyring.active.sign_jws(canonical_json(shown), header)
            return SignedVersion(stored.profile_id, stored.version, jws, shown.SerializeToString())
        adapter = self._formats(format_name)
        header |= {"format": adapter.name, "cty": adapter.media_type}
        if shown.disputes:  # a partner format has no place for them: signed in the header
            header["disputes"] = json.loads(canonical_json(shown))["disputes"]
        jws = self._keyring.active.sign_jws(adapter.encode(shown), header)
        return SignedVersion(
            stored.profile_id,
            stored.version,
            jws,
            shown.SerializeToString(),
            profile_json=canonical_json(shown),
        )

    # -- PublishProfile ------------------------------------------------------------------------

    def publish_profile(self, request: PublishProfileRequest, caller: Partner) -> PublishReceipt:
        if not request.jws:
            raise InvalidArgument("jws is required", field="jws")
        verified = self._partners.verify(request.jws, typ=PUBLISH_TYP)
        partner = verified.partner
        if partner.id != caller.id:
            raise PermissionDenied(
                f"the JWS is signed by partner {partner.id!r}, not by the caller {caller.id!r}",
                field="jws",
            )
        if not partner.roles & PUBLISHER_ROLES:
            raise PermissionDenied(f"partner {partner.id!r} has no role that may publish profiles")
        accept_legacy = self._accepts_legacy
        if request.format:  # the partner's own format, mapped and validated by its adapter
            adapter = self._formats(request.format)
            _check_content_type(verified.header, adapter.media_type)
            profile = adapter.decode(verified.payload, accept_legacy=accept_legacy)
        else:
            _check_content_type(verified.header, "application/json")
            profile = parse_profile_json(verified.payload)
            validate_profile(profile, accept_legacy=accept_legacy)
        now = self._clock()
        request_sha256 = hashlib.sha256(request.jws.encode("utf-8", "replace")).hexdigest()
        try:
            stored = self._store.append(
                self._new_version(profile, partner, request_sha256, request.jws, now)
            )
        except Conflict as conflict:
            # The same bytes again (a client retrying a publish whose answer it lost): the
            # receipt of the version they made, and nothing stored. Only the signer can send its
            # JWS (checked above), so the receipt tells the caller nothing it may not know.
            if conflict.field != "jws" or "version" not in conflict.details:
                raise
            return self._replayed_receipt(conflict, request_sha256, now)
        return self._receipt(
            stored.profile_id,
            stored.version,
            stored.payload_sha256,
            request_sha256,
            partner.id,
            profile.common_grade.rule_pack,
            published_at=now,
            signed_at=now,
        )

    def _replayed_receipt(
        self, conflict: Conflict, request_sha256: str, now: datetime
    ) -> PublishReceipt:
        """The receipt of the version an earlier publish of the same JWS stored: the same
        fields, so the same signed payload (signed again, ``iat`` now)."""
        profile_id = str(conflict.details["profile_name"]).removeprefix("profiles/")
        ref = self._store.find(profile_id, int(conflict.details["version"]))
        if ref is None:  # a stored version is never deleted
            raise conflict
        stored = self._store.load(ref.row_id)
        grade = CreditProfile.FromString(stored.profile_pb).common_grade
        return self._receipt(
            stored.profile_id,
            stored.version,
            stored.payload_sha256,
            request_sha256,
            stored.publisher,
            grade.rule_pack,
            published_at=stored.published_at,
            signed_at=now,
        )

    def _receipt(
        self,
        profile_id: str,
        version: int,
        payload_sha256: str,
        request_sha256: str,
        publisher: str,
        rule_pack: str,
        *,
        published_at: datetime,
        signed_at: datetime,
    ) -> PublishReceipt:
        receipt = PublishReceipt(
            profile_name=f"profiles/{profile_id}",
            version=version,
            payload_sha256=payload_sha256,
            request_sha256=request_sha256,
            publisher=publisher,
            rule_pack_sha256=rule_pack.partition("#")[2],
        )
        receipt.published_at.FromDatetime(published_at)
        receipt.receipt_jws = self._keyring.active.sign_jws(
            canonical_json(receipt),
            {"typ": RECEIPT_TYP, "iat": int(signed_at.timestamp()), "iss": self._gateway_id},
        )
        return receipt

    def _new_version(
        self,
        profile: CreditProfile,
        partner: Partner,
        request_sha256: str,
        source_jws: str,
        now: datetime,
    ) -> NewVersion:
        """A validated profile as the store takes it, to be signed by the gateway once the
        store has given it its name and version."""
        stated = profile.provenance.source_institution
        if stated and stated != partner.id:
            raise InvalidArgument(
                f"source institution {stated!r} is not the signing partner {partner.id!r}",
                field="/provenance/sourceInstitution",
            )
        profile.provenance.source_institution = partner.id
        if not profile.HasField("valid_from"):
            profile.valid_from.FromDatetime(now)
        # The gateway's reading of the ratings on the common scale, by the active packs.
        grade = self._common_grade(profile, now.date())
        if grade is not None:
            profile.common_grade.CopyFrom(grade)

        def render(profile_id: str, version: int) -> Rendered:
            profile.name, profile.version = f"profiles/{profile_id}", version
            payload = canonical_json(profile)
            jws = self._keyring.active.sign_jws(
                payload, {"typ": PROFILE_TYP, "iat": int(now.timestamp()), "iss": self._gateway_id}
            )
            return Rendered(jws, hashlib.sha256(payload).hexdigest(), profile.SerializeToString())

        return NewVersion(
            identifiers=_lookup_keys(profile),
            country=profile.subject.country,
            names=list(legal_names(profile.subject.legal_name)),
            publisher=partner.id,
            request_sha256=request_sha256,
            source_jws=source_jws,
            published_at=now,
            render=render,
        )

    def republish(
        self,
        profile: CreditProfile,
        partner: Partner,
        request_sha256: str,
        also: Callable[[Connection, StoredVersion], None],
    ) -> StoredVersion:
        """Store ``profile`` (a changed copy of a stored version) as the next version, as a
        publish by ``partner`` would (validity from now, grade recomputed), with ``also``'s
        writes in its transaction: the one path of a repair."""
        profile.ClearField("valid_from")
        profile.ClearField("common_grade")  # recomputed by the active packs
        new = self._new_version(profile, partner, request_sha256, "", self._clock())
        return self._store.append_with(new, also)

    # -- bulk import ---------------------------------------------------------------------------

    def import_file(
        self,
        format_name: str,
        stream: IO[bytes],
        partner: Partner,
        *,
        batch: int = 500,
        on_record: Callable[[Record], None] = lambda record: None,
    ) -> ImportSummary:
        """``import_records`` for a file in the partner format named ``format_name``: the one
        import path that both transports and ``cxg import`` call."""
        return self.import_records(
            self._formats(format_name), stream, partner, batch=batch, on_record=on_record
        )

    def import_records(
        self,
        adapter: Adapter,
        stream: IO[bytes],
        partner: Partner,
        *,
        batch: int = 500,
        on_record: Callable[[Record], None] = lambda record: None,
    ) -> ImportSummary:
        """Publish every record of a bulk file in ``adapter``'s format as ``partner`` (already
        authenticated by the caller), with the validation of a single publish. Records are read
        one at a time and stored in transactions of ``batch``; a refused record is reported by
        number and location and the others are stored. A record identical to one stored before
        (same canonical content) is counted as unchanged, so a full list can be re-imported."""
        if not partner.roles & PUBLISHER_ROLES:
            raise PermissionDenied(f"partner {partner.id!r} has no role that may publish profiles")
        summary = ImportSummary()
        pending: list[tuple[Record, NewVersion]] = []

        def flush() -> None:
            results = self._store.append_many([new for _, new in pending])
            for (record, _), result in zip(pending, results, strict=True):
                if isinstance(result, Conflict) and "profile_name" in result.details:
                    summary.unchanged += 1
                elif isinstance(result, GatewayError):
                    summary.refuse(record, result)
                else:
                    summary.imported += 1
            pending.clear()

        try:
            records = mapping.read_in_workers(
                adapter,
                stream,
                accept_legacy=mapping.AcceptedLegacy(self._accepted_legacy_ids),
                workers=self._import_workers,
            )
            for record in records:
                summary.records += 1
                on_record(record)
                if record.profile is None:
                    assert record.error is not None
                    summary.refuse(record, record.error)
                    continue
                # The same record from the same partner again is a replay (counted as unchanged).
                # Deterministic protobuf bytes identify the content as well as canonical JSON
                # here, within one deployment, at a tenth of the cost.
                content = (
                    partner.id.encode()
                    + b"\n"
                    + record.profile.SerializeToString(deterministic=True)
                )
                digest = hashlib.sha256(content).hexdigest()
                try:
                    new = self._new_version(record.profile, partner, digest, "", self._clock())
                except GatewayError as exc:
                    summary.refuse(record, exc)
                    continue
                pending.append((record, new))
                if len(pending) >= batch:
                    flush()
            if pending:
                flush()
        finally:  # what was stored before a failure counts too
            metrics.import_records.labels("imported").inc(summary.imported)
            metrics.import_records.labels("unchanged").inc(summary.unchanged)
            metrics.import_records.labels("refused").inc(summary.refused)
        return summary

    def _accepts_legacy(self, scheme: str, value: str) -> bool:
        return f"{scheme}:{value}" in self._accepted_legacy_ids

    # -- ListProfileVersions -------------------------------------------------------------------

    def list_versions(self, request: ListProfileVersionsRequest) -> ListProfileVersionsResponse:
        profile_id = _profile_id(request.name)
        size = page_size(request.page_size)
        below = (
            int(decode_token(request.page_token, "v", _VERSION_CURSOR)[0])
            if request.page_token
            else None
        )
        rows = self._store.list_versions(profile_id, below=below, limit=size + 1)
        if not rows and below is None and not self._store.profile_exists(profile_id):
            raise NotFound("no such profile")
        response = ListProfileVersionsResponse()
        for row in rows[:size]:
            entry = ProfileVersion(
                version=row.version, payload_sha256=row.payload_sha256, publisher=row.publisher
            )
            entry.published_at.FromDatetime(row.published_at)
            response.versions.append(entry)
        if len(rows) > size:
            response.next_page_token = encode_token("v", str(rows[size - 1].version))
        return response

    # -- SearchProfiles ------------------------------------------------------------------------

    def search_profiles(
        self, request: SearchProfilesRequest, caller: Partner
    ) -> SearchProfilesResponse:
        """Profiles by legal-name prefix and/or country; a country a peer gateway serves (the
        routing table sends it there) is searched at the peer."""
        relayed_for = self.on_behalf_of.check(request.on_behalf_of, caller, op="SearchProfiles")
        prefix = request.name_prefix.strip()
        country = request.country.strip().upper()
        if len(prefix) > 200:
            raise InvalidArgument("name_prefix is longer than 200 characters", field="name_prefix")
        if country and not re.fullmatch(r"[A-Z]{2}", country):
            raise InvalidArgument(
                f"{request.country!r} is not an ISO 3166-1 alpha-2 code", field="country"
            )
        if not relayed_for and (relayed := self.relay_search(request, caller)) is not None:
            return relayed
        size = page_size(request.page_size)
        after = (
            decode_token(request.page_token, "p", _PROFILE_CURSOR)[0] if request.page_token else ""
        )
        refs = self._store.search(name_prefix=prefix, country=country, after=after, limit=size + 1)
        response = SearchProfilesResponse()
        for ref in refs[:size]:
            subject = CreditProfile.FromString(
                self._signed(ref.row_id, ref.marks, FULL, "").profile_pb
            ).subject
            response.results.append(
                ProfileSummary(
                    name=f"profiles/{ref.profile_id}",
                    version=ref.version,
                    ids=subject.ids,
                    legal_name=subject.legal_name,
                    country=subject.country,
                )
            )
        if len(refs) > size:
            response.next_page_token = encode_token("p", refs[size - 1].profile_id)
        if relayed_for:
            response.relay.CopyFrom(relayed_for)
        return response

    def jwks(self) -> dict[str, Any]:
        return self._keyring.jwks()


@lru_cache(maxsize=65536)
def _lookup_key(scheme: str, value: str) -> tuple[str, str]:
    """The normalized identifier a lookup asks for; cached, as the same few are asked for often."""
    if not scheme:
        raise InvalidArgument("id.scheme is required", field="id.scheme")
    valid = validate(normalize_scheme(scheme, field="id.scheme"), value, field="id.value")
    return valid.scheme, valid.value


def _lookup_keys(profile: CreditProfile) -> list[tuple[str, str]]:
    """What finds a profile: its subject's identifiers and its AEO authorisation numbers."""
    keys = [(i.scheme, i.value) for i in profile.subject.ids]
    keys += [
        ("AEO", a.authorisation_number)
        for a in profile.aeo
        if ("AEO", a.authorisation_number) not in keys
    ]
    return keys


def _check_content_type(header: dict[str, Any], media_type: str) -> None:
    """A ``cty`` the partner signed must be the media type of what the payload is read as."""
    cty = header.get("cty")
    if cty is None:
        return
    stated = cty.lower().removeprefix("application/") if isinstance(cty, str) else cty
    if stated != media_type.removeprefix("application/"):
        raise InvalidArgument(
            f"JWS cty {cty!r} is not {media_type!r}, the media type of the payload as published",
            field="jws.header.cty",
        )


def _profile_id(name: str) -> str:
    match = _NAME.match(name)
    if not match:
        raise InvalidArgument(
            "name must be 'profiles/' followed by 32 lower-case hex digits", field="name"
        )
    return match.group(1)
