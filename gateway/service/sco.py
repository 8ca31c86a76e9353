"""SCO codes: issue a company's code from its profile, change its status, and check codes with
the current trust and status lists; publish both lists signed.

The gateway issues with its own active key, as issuer ``gateway_id`` of country
``settings.country``. Partners with the ``issuer`` role issue with their own keys, elsewhere;
their registered keys are on the trust list under their partner id and country, so their codes
verify here and offline. The status list covers the codes this gateway issued.

A code's state changes only as ``CodeStatus.may_become`` allows (revocation is final); the check
is a compare-and-set in the store's transaction.

Both lists are cached for a minute per process (``_CACHE_SECONDS``), and the cached status list
is dropped whenever this process issues a code or changes a state, so what it answers and serves
says so at once. On other replicas: a new code verifies at once too (a code of ours whose index
is outside the cached list makes the list be built again before the answer); a status change
shows within the minute, the served list covers a new code within the minute, and a newly
registered issuer's keys reach the trust list within the minute.

A scan URL holds the code in a form that path normalisation cannot change (see ``scan_url``).
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import base45  # type: ignore[import-untyped]  # RFC 9285; the package ships no type hints

from gateway.config import Settings
from gateway.errors import Conflict, InvalidArgument, NotFound
from gateway.identifiers import normalize_scheme, validate
from gateway.observe import metrics
from gateway.schema.cxg.v1 import sco_service_pb2 as pb
from gateway.schema.cxg.v1.profile_pb2 import AeoState, CreditProfile
from gateway.sco import (
    CodeStatus,
    Names,
    Result,
    ScoClaims,
    StatusList,
    TrustedKey,
    TrustList,
    Verification,
    issue,
    qr_png,
    qr_svg,
    qr_version,
    verify,
)
from gateway.service.federation import peer_issuer_keys, peer_status_lists
from gateway.signing import KeyRing
from gateway.storage import Database, ProfileStore
from gateway.storage.partners import PartnerStore
from gateway.storage.peers import PeerStore
from gateway.storage.sco import ScoCodeStore, StoredCode
from gateway.trust import Partner

SCAN_PATH = "/s/"
STATUS_LIST_PATH = "/v1/sco/statusList"  # with Accept: application/statuslist+jwt, the token
# A code in a scan URL: "SC1-" and its zlib bytes in base 36 (digits and upper-case letters).
URL_PREFIX = "SC1-"
_CODE_PREFIX = "SC1:"
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_IN_BASE36 = re.compile(r"[0-9A-Z]*")
# Past any code's length (a code over 1,000 characters is OVERSIZE), under the 4,300 digits int()
# converts from base 36 by default.
_MAX_URL_FORM = 2000
DEFAULT_VALID_DAYS, MAX_VALID_DAYS = 365, 1096
TRUST_LIST_VALID = timedelta(days=1)  # a verifier warns after a day, refuses a week later
STATUS_LIST_VALID, STATUS_LIST_TTL = timedelta(days=1), timedelta(minutes=5)
_CACHE_SECONDS = 60.0
_LANGUAGES = ("zh", "en", "ru")
_STATES = {
    pb.CODE_STATE_VALID: ("valid", CodeStatus.VALID),
    pb.CODE_STATE_REVOKED: ("revoked", CodeStatus.REVOKED),
    pb.CODE_STATE_SUSPENDED: ("suspended", CodeStatus.SUSPENDED),
    pb.CODE_STATE_UNDER_REVIEW: ("under_review", CodeStatus.UNDER_REVIEW),
}
_BY_NAME = {name: (state, status) for state, (name, status) in _STATES.items()}
_STATUS_OF = {name: status for name, status in _STATES.values()}


class ScoService:
    def __init__(
        self,
        store: ScoCodeStore,
        profiles: ProfileStore,
        partners: PartnerStore,
        peers: PeerStore,
        keyring: KeyRing,
        *,
        gateway_id: str,
        country: str,
        public_url: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._profiles = profiles
        self._partners = partners
        self._peers = peers
        self._keyring = keyring
        self.issuer = gateway_id
        self._country = country
        self.public_url = public_url.rstrip("/")
        self._clock = clock
        self._lock = threading.Lock()
        self._trust: tuple[float, TrustList, str] | None = None  # built at, list, its JWS
        self._status: tuple[float, StatusList, str] | None = None
        self._disputed: frozenset[str] = frozenset()  # built with the status list
        self._peer_status: dict[str, StatusList] = {}  # built with the trust list

    @classmethod
    def from_settings(
        cls, settings: Settings, db: Database, keyring: KeyRing | None = None
    ) -> ScoService:
        return cls(
            ScoCodeStore(db),
            ProfileStore(db),
            PartnerStore(db),
            PeerStore(db),
            keyring or KeyRing.from_settings(settings),
            gateway_id=settings.gateway_id,
            country=settings.country,
            public_url=settings.scan_base_url,
        )

    @property
    def status_uri(self) -> str:
        """The Status List Token's URI: its ``sub``, and the ``uri`` in every code it covers
        (so changing the public URL leaves the codes issued before without a list)."""
        return f"{self.public_url}{STATUS_LIST_PATH}"

    # -- issuing and status -----------------------------------------------------------------------

    def issue_code(self, request: pb.IssueScoCodeRequest, caller: Partner) -> pb.ScoCode:
        scheme = normalize_scheme(request.subject.scheme, field="subject.scheme")
        value = validate(scheme, request.subject.value, field="subject.value").value
        days = request.valid_days or DEFAULT_VALID_DAYS
        if not 1 <= days <= MAX_VALID_DAYS:
            raise InvalidArgument(f"valid_days is 1 to {MAX_VALID_DAYS}", field="valid_days")
        unknown = set(request.languages) - set(_LANGUAGES)
        if unknown:
            raise InvalidArgument(
                f"languages are {', '.join(_LANGUAGES)}, not {', '.join(sorted(unknown))}",
                field="languages",
            )
        ref = self._profiles.find_by_identifier(scheme, value)
        if ref is None:
            raise NotFound("no profile for this identifier", field="subject")
        profile = CreditProfile.FromString(self._profiles.load(ref.row_id).profile_pb)
        languages = set(request.languages or _LANGUAGES)
        claims = _claims_of(profile, languages, self.issuer, self._clock(), timedelta(days=days))
        claims = replace(claims, status_uri=self.status_uri)  # the list that will hold it
        try:
            stored = self._store.issue(
                claims.code_id,
                ref.profile_id,
                caller.id,
                claims.issued_at,
                claims.expires_at,
                lambda index: issue(replace(claims, status_index=index), self._keyring.active),
            )
        except InvalidArgument as exc:
            if exc.field != "names":
                raise
            # The caller's way to a shorter code: the languages of the names it carries.
            raise InvalidArgument(exc.message, field="languages") from exc
        self._drop_status_list()  # the cached one may end before the new code's index
        return self._message(stored)

    def get_code(self, request: pb.GetScoCodeRequest, caller: Partner) -> pb.ScoCode:
        return self._message(self._own(request.name, caller))

    def set_status(self, request: pb.SetScoCodeStatusRequest, caller: Partner) -> pb.ScoCode:
        stored = self._own(request.name, caller)
        if request.state not in _STATES:
            raise InvalidArgument("state is one of the CODE_STATE values", field="state")
        wanted, status = _STATES[request.state]
        sources = [name for name, was in _STATUS_OF.items() if was.may_become(status)]
        result = self._store.set_state(stored.code_id, wanted, self._clock(), sources)
        if result is None:
            raise NotFound("no such SCO code")
        code, changed = result
        if not changed:
            raise Conflict(
                _refusal(code, wanted),
                field="state",
                current_state=pb.CodeState.Name(_BY_NAME[code.state][0]),
            )
        self._drop_status_list()  # the next status list says so
        return self._message(code)

    def qr(self, request: pb.GetScoCodeRequest, caller: Partner, image: str) -> bytes:
        """The code's QR image ("png" or "svg"), holding its scan URL."""
        url = self.scan_url(self._own(request.name, caller).text)
        return (qr_png(url) if image == "png" else qr_svg(url)).data

    # -- checking ---------------------------------------------------------------------------------

    def check(self, text: str) -> Verification:
        """A code (or a scan URL) checked with the current lists: a code of this gateway's with
        its status list, another issuer's with the trust list alone."""
        code = code_in(text)
        trust, _ = self.trust_list()
        status, _ = self.status_list()
        lists = {**self._peer_status, self.issuer: status}
        checked = verify(code, trust, now=self._clock(), status_lists=lists)
        claims = checked.claims
        if (
            checked.result is Result.UNDER_REVIEW
            and claims is not None
            and claims.issuer == self.issuer
            and claims.status_uri in ("", self.status_uri)
            and claims.status_index >= status.size
        ):
            # A genuine code of ours issued after the cached list was built (through another
            # replica): the list as it is now vouches for it.
            status, _ = self.status_list(fresh=True)
            lists = {**self._peer_status, self.issuer: status}
            checked = verify(code, trust, now=self._clock(), status_lists=lists)
        metrics.sco_verifications.labels(checked.result.value.lower()).inc()
        return checked

    def under_dispute(self, claims: ScoClaims) -> bool:
        """Whether the company of one of this gateway's codes had a dispute open when the
        status list was built (the scan page says so; no database read per scan)."""
        self.status_list()
        return claims.issuer == self.issuer and claims.code_id in self._disputed

    def verify_code(self, request: pb.VerifyScoCodeRequest) -> pb.ScoVerification:
        checked = self.check(request.code)
        answer = pb.ScoVerification(result=checked.result.value, reasons=checked.reasons)
        if checked.claims is not None:
            claims = checked.claims
            answer.claims.CopyFrom(
                pb.ScoClaims(
                    code_id=claims.code_id,
                    subject_ids=[{"scheme": s, "value": v} for s, v in claims.subject_ids],
                    names={"zh": claims.names.zh, "en": claims.names.en, "ru": claims.names.ru},
                    country=claims.country,
                    grade_bucket=claims.grade_bucket,
                    aeo=claims.aeo,
                    aeo_type=claims.aeo_type,
                    status_index=claims.status_index,
                    issuer=claims.issuer,
                )
            )
            answer.claims.issue_time.FromDatetime(claims.issued_at)
            answer.claims.expire_time.FromDatetime(claims.expires_at)
        return answer

    def scan_url(self, code: str) -> str:
        """The URL a QR code holds, all in the QR alphanumeric alphabet: upper case, and the
        code as ``SC1-`` and its zlib bytes in base 36. Base45's own alphabet has '/', '.', '%'
        and ' ', so a code as such in a path is changed by proxies that merge slashes (nginx by
        default; about 9% of codes hold "//") or decode and re-encode escapes; digits and
        letters are left alone by every normalisation, and read back in any case."""
        return f"{self.public_url.upper()}{SCAN_PATH.upper()}{url_form(code)}"

    # -- the signed lists -------------------------------------------------------------------------

    def trust_list(self) -> tuple[TrustList, str]:
        with self._lock:
            if self._trust is None or _expired(self._trust[0]):
                now = self._clock().replace(microsecond=0)
                trust = TrustList(
                    version=int(now.timestamp()),
                    issued_at=now,
                    next_update=now + TRUST_LIST_VALID,
                    keys=tuple(self._trusted_keys()),
                )
                self._trust = (time.monotonic(), trust, trust.sign(self._keyring.active))
                self._peer_status = peer_status_lists(self._peers, now=now)
            return self._trust[1], self._trust[2]

    def status_list(self, *, fresh: bool = False) -> tuple[StatusList, str]:
        """The status list and its signed token: the cached one, or (``fresh``, or once it is
        older than a minute) one built from the store now."""
        with self._lock:
            if fresh or self._status is None or _expired(self._status[0]):
                size, states = self._store.states()
                self._disputed = self._store.disputed_codes()
                now = self._clock().replace(microsecond=0)
                status = StatusList(
                    max(size, 1), issuer=self.issuer, subject=self.status_uri, issued_at=now,
                    expires_at=now + STATUS_LIST_VALID, ttl=STATUS_LIST_TTL,
                )  # fmt: skip
                for index, state in states.items():
                    status.set(index, _BY_NAME[state][1])
                jws = status.sign(
                    self._keyring.active, now=now, valid_for=STATUS_LIST_VALID, ttl=STATUS_LIST_TTL
                )
                self._status = (time.monotonic(), status, jws)
            return self._status[1], self._status[2]

    # -- internals --------------------------------------------------------------------------------

    def codes_changed(self) -> None:
        """Another use case changed codes' states (a dispute put them under review, or gave
        them back): this process's next list says so at once."""
        self._drop_status_list()

    def trust_changed(self) -> None:
        """A peer's keys changed (``gateway.service.federation``): this process's next trust
        list says so at once."""
        with self._lock:
            self._trust = None

    def _drop_status_list(self) -> None:
        # Called once the change is committed: a list being built meanwhile (which may have read
        # the store before it) is dropped too, as it is stored before this takes the lock.
        with self._lock:
            self._status = None

    def _trusted_keys(self) -> list[TrustedKey]:
        return self.own_issuer_keys() + peer_issuer_keys(
            self._peers, self._partners, own_issuer=self.issuer, now=self._clock()
        )

    def own_issuer_keys(self) -> list[TrustedKey]:
        """This gateway's keys and its issuer partners' (what its federation document tells
        peers; a peer's issuers are not passed on)."""
        keys = [
            TrustedKey.from_signing_key(key, issuer=self.issuer, country=self._country)
            for key in self._keyring.keys
        ]
        for partner in self._partners.all():
            if "issuer" not in partner.roles or not partner.active:
                continue
            for key in self._partners.keys_of(partner.id):
                if key.status != "active":
                    continue
                keys.append(
                    TrustedKey.from_jwk(
                        key.jwk,
                        issuer=partner.id,
                        country=partner.country,
                        valid_from=key.not_before,
                        valid_to=key.not_after,
                    )
                )
        return keys

    def _own(self, name: str, caller: Partner) -> StoredCode:
        prefix, _, code_id = name.partition("/")
        if prefix != "scoCodes" or not code_id:
            raise InvalidArgument("name is scoCodes/{code_id}", field="name")
        stored = self._store.get(code_id)
        # Another issuer's code is as invisible as a missing one.
        if stored is None or (stored.issued_by != caller.id and "operator" not in caller.roles):
            raise NotFound("no such SCO code")
        return stored

    def _message(self, stored: StoredCode) -> pb.ScoCode:
        url = self.scan_url(stored.text)
        message = pb.ScoCode(
            name=f"scoCodes/{stored.code_id}",
            code=stored.text,
            url=url,
            profile=f"profiles/{stored.profile_id}",
            state=_BY_NAME[stored.state][0],
            status_index=stored.status_index,
            issued_by=stored.issued_by,
            qr_version=qr_version(url),
        )
        message.issue_time.FromDatetime(stored.issued_at)
        message.expire_time.FromDatetime(stored.expires_at)
        return message


def code_in(text: str) -> str:
    """The code a scanned text holds, as an offline app reads it: the code itself, a scan URL,
    or what follows a scan URL's ``/s/`` (the scan page's path); in the URL form or the older
    one (the code as such, percent-encoded), in any case. Anything else is returned as it is,
    for the verifier to refuse."""
    text = text.strip()
    if "://" in text:
        try:
            path = urllib.parse.urlsplit(text).path
        except ValueError:  # e.g. an unclosed "[" of an IPv6 host
            return text
        at = path.upper().find(SCAN_PATH.upper())
        if at < 0:
            return text
        text = urllib.parse.unquote(path[at + len(SCAN_PATH) :])
    head, body = text[:4].upper(), text[4:]
    if head == URL_PREFIX and len(body) <= _MAX_URL_FORM and _IN_BASE36.fullmatch(body.upper()):
        encoded: bytes = base45.b45encode(_from_base36(body.upper()))
        return _CODE_PREFIX + encoded.decode("ascii")
    if head == _CODE_PREFIX:
        # Base45 has no lower-case letters: a code in a lower-cased URL reads back as it was.
        return head + body.upper()
    return text


def url_form(code: str) -> str:
    """A code's text (``SC1:`` + Base45) as a scan URL carries it (``SC1-`` + base 36)."""
    return URL_PREFIX + _to_base36(base45.b45decode(code.removeprefix(_CODE_PREFIX)))


def _to_base36(data: bytes) -> str:
    # The bytes as one big number (a few hundred bytes: cheap), leading zero bytes as "0"s.
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, digit = divmod(number, 36)
        digits.append(_BASE36[digit])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "0" * zeros + "".join(reversed(digits))


def _from_base36(text: str) -> bytes:
    digits = text.lstrip("0")
    number = int(digits, 36) if digits else 0
    return bytes(len(text) - len(digits)) + number.to_bytes((number.bit_length() + 7) // 8, "big")


def _refusal(code: StoredCode, wanted: str) -> str:
    name = f"scoCodes/{code.code_id}"
    if code.state == "revoked":
        return f"{name} is revoked, and revocation is final: it cannot become {wanted}"
    if code.state == wanted:
        return f"{name} is already {wanted}"
    return f"{name} is {code.state}, and cannot become {wanted}"


def _claims_of(
    profile: CreditProfile, languages: set[str], issuer: str, now: datetime, valid_for: timedelta
) -> ScoClaims:
    """A new code's claims from the company's profile; its status index is set once stored."""
    names = profile.subject.legal_name
    aeo = next((a for a in profile.aeo if a.status == AeoState.AEO_STATE_AUTHORISED), None)
    return ScoClaims.new(
        subject_ids=[(i.scheme, i.value) for i in profile.subject.ids],
        names=Names(**{lang: getattr(names, lang) for lang in languages}),
        country=profile.subject.country,
        issuer=issuer,
        status_index=0,
        valid_for=valid_for,
        grade_bucket=profile.common_grade.bucket,
        aeo_type=aeo.type if aeo else "",
        now=now,
    )


def _expired(built: float) -> bool:
    return time.monotonic() - built >= _CACHE_SECONDS
