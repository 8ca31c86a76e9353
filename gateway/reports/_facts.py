"""What a credit report states, gathered by the service: ``ReportFacts`` and the AEO
``Recognition``s in it, checked once when built so that rendering never meets a half-made fact."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlsplit

from gateway.names import LANGUAGES
from gateway.schema.cxg.v1.profile_pb2 import AuthorityType, CreditProfile
from gateway.trust.policy import CUSTOMS, FULL, SUMMARY

OUTCOMES = ("recognized", "not_recognized", "open")

# Printed in every page's header and typed back by people: printable ASCII, no spaces.
_REPORT_ID = re.compile(r"[!-~]{1,64}")
# Printed as a QR code 28 mm wide: longer, and its modules get too small to scan.
MAX_VERIFY_URL = 256
_COUNTRY = re.compile(r"[A-Z]{2}")
# Which authorities' records each view of a profile keeps (gateway/trust/policy.py, minimize).
VIEWS = (FULL, CUSTOMS, SUMMARY)
_VIEW_RECORDS: dict[str, tuple[int, ...]] = {
    FULL: tuple(AuthorityType.values()),
    CUSTOMS: (AuthorityType.AUTHORITY_TYPE_CUSTOMS,),
}


@dataclass(frozen=True)
class Recognition:
    """What one partner country's customs recognises today of one AEO authorisation."""

    aeo_number: str  # e.g. "CN1234567890"
    importing_country: str  # ISO 3166-1 alpha-2
    outcome: str  # "recognized" | "not_recognized" | "open"
    rule: str  # id of the rule that decided
    rule_pack: str  # the pack that decided, as text; may be ""
    reason: tuple[str, str, str]  # (zh, en, ru)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not one of {', '.join(OUTCOMES)}")
        if not _COUNTRY.fullmatch(self.importing_country):
            raise ValueError(
                f"importing_country {self.importing_country!r} is not an ISO 3166-1 alpha-2 code"
            )
        if len(self.reason) != len(LANGUAGES):
            raise ValueError("reason is (zh, en, ru)")


@dataclass(frozen=True)
class ReportFacts:
    """Everything one report shows. ``profile`` is the version as the purpose may see it;
    ``view`` the view it was reduced to (gateway/trust/policy.py): the report makes statements
    only about the authorities whose records that view keeps; for the others it states nothing
    rather than "no record"."""

    report_id: str
    verify_url: str  # what the QR code on every page holds, exactly
    issuer: str  # the gateway's id
    profile: CreditProfile
    profile_version: int
    profile_jws: str  # compact JWS of ``profile``, attached to the document
    purpose: str
    languages: tuple[str, ...]  # the first is the primary language
    period_start: date  # public records are reported for decision dates in [start, end]
    period_end: date
    issued_at: datetime  # aware
    expires_at: datetime
    recognitions: tuple[Recognition, ...]
    view: str = FULL

    def __post_init__(self) -> None:
        if not _REPORT_ID.fullmatch(self.report_id):
            raise ValueError(
                f"report_id {self.report_id!r} must be 1 to 64 printable ASCII characters"
            )
        url = urlsplit(self.verify_url)
        if (
            url.scheme not in ("https", "http")
            or not url.netloc
            or not self.verify_url.isprintable()
        ):
            raise ValueError(f"verify_url {self.verify_url!r} is not an absolute http(s) URL")
        if " " in self.verify_url or len(self.verify_url) > MAX_VERIFY_URL:
            raise ValueError(
                f"verify_url must have no spaces and at most {MAX_VERIFY_URL} characters"
            )
        if not self.languages or len(set(self.languages)) != len(self.languages):
            raise ValueError("languages must name one or more distinct languages")
        unknown = [lang for lang in self.languages if lang not in LANGUAGES]
        if unknown:
            raise ValueError(f"languages {unknown} are not among {', '.join(LANGUAGES)}")
        for name in ("issued_at", "expires_at"):
            moment: datetime = getattr(self, name)
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")
        if self.period_start > self.period_end:
            raise ValueError("period_start is after period_end")
        if self.profile_jws.count(".") != 2 or not self.profile_jws.isascii():
            raise ValueError("profile_jws is not a compact JWS")
        if self.view not in VIEWS:
            raise ValueError(f"view {self.view!r} is not one of {', '.join(VIEWS)}")
        numbers = {aeo.authorisation_number for aeo in self.profile.aeo}
        stray = sorted({r.aeo_number for r in self.recognitions} - numbers)
        if stray:
            # A recognition printed under no authorisation would be dropped from the document.
            raise ValueError(f"recognitions for AEO numbers the profile does not show: {stray}")

    @property
    def authorities_shown(self) -> frozenset[int]:
        """Authority types whose records this report makes statements about."""
        return frozenset(_VIEW_RECORDS.get(self.view, ()))
