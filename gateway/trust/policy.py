"""Access policy: which roles may call which operation, and which fields each purpose may see.

Default deny: an operation missing from ``OPERATIONS`` is refused to everyone, and a test fails
when a gRPC method or REST route has no entry. Roles decide operations; the purpose a caller
states decides the fields of a profile it sees (data minimization), and some purposes need the
subject's consent as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import InvalidArgument, PermissionDenied
from gateway.schema.cxg.v1.profile_pb2 import AuthorityType, CreditProfile
from gateway.trust.partners import Partner

# Roles that read profiles for their business.
READERS = frozenset({"credit_bureau", "bank", "customs", "sme_portal", "issuer"})


@dataclass(frozen=True)
class Rule:
    """Who may call an operation: partners with one of ``roles``; anyone when ``public``.

    ``identifies``: a public operation that still authenticates a caller who sends a token (and
    shows it more). ``audited``: each call is a leaf of the audit log; reads of public
    material (keys, health, the log itself) are not, or reading the log would grow it.
    """

    roles: frozenset[str] = frozenset()
    public: bool = False
    identifies: bool = False
    audited: bool = True

    def __post_init__(self) -> None:
        if self.public == bool(self.roles):
            raise ValueError("a rule is either public or names at least one role")


_OPERATOR = Rule(frozenset({"operator"}))
_PUBLISHERS = frozenset({"credit_bureau", "bank", "customs"})

OPERATIONS: dict[str, Rule] = {
    # ProfileService
    # A peer gateway relays its partners' lookups and searches, and customs' AEO questions
    # (gateway/service/relays.py).
    "GetProfile": Rule(READERS | {"gateway"}),
    "PublishProfile": Rule(_PUBLISHERS),
    "ImportProfiles": Rule(_PUBLISHERS),
    "ListProfileVersions": Rule(READERS),
    "SearchProfiles": Rule(READERS | {"gateway"}),
    # ConsentService: portals record consents; grantees read the ones they received.
    "GrantConsent": Rule(frozenset({"sme_portal"})),
    "RevokeConsent": Rule(frozenset({"sme_portal"})),
    "GetConsent": Rule(READERS),
    "ListConsents": Rule(READERS),
    # EventService: readers subscribe to events about the companies they deal with, and poll
    # theirs (a peer gateway too, for the partners it relayed to); operators see and replay
    # the deliveries given up.
    "CreateSubscription": Rule(READERS | {"gateway"}),
    "ListSubscriptions": Rule(READERS | {"gateway"}),
    "GetSubscription": Rule(READERS | {"gateway"}),
    "DeleteSubscription": Rule(READERS | {"gateway"}),
    "PollEvents": Rule(READERS | {"gateway"}),
    "ListDeadEvents": _OPERATOR,
    "ReplayEvents": _OPERATOR,
    # CorrectionService: the subject (through its portal) and recipients file disputes; the
    # publisher answers them and records repairs; operators watch the deadlines.
    "FileDispute": Rule(READERS),
    "AnswerDispute": Rule(_PUBLISHERS),
    "GetDispute": Rule(READERS | _PUBLISHERS | {"operator"}),
    "ListDisputes": Rule(READERS | _PUBLISHERS | {"operator"}),
    "RecordRepair": Rule(_PUBLISHERS),
    # RulesService: customs ask about AEO authorisations; any reader asks grade equivalence;
    # the packs themselves are public, so anyone can check which rules decided.
    "RecognizeAeo": Rule(frozenset({"customs", "operator", "gateway"})),
    "EquivalentGrade": Rule(READERS | {"operator"}),
    "ListRulePacks": Rule(public=True, audited=False),
    "GetRulePack": Rule(public=True, audited=False),
    # ScoService: issuers issue and manage their codes; anyone checks a code and reads the
    # signed lists and the scan page (public checks are not audited: scanning must not grow
    # the log).
    "IssueScoCode": Rule(frozenset({"issuer", "operator"})),
    "GetScoCode": Rule(frozenset({"issuer", "operator"})),
    "GetScoCodeQr": Rule(frozenset({"issuer", "operator"})),
    "SetScoCodeStatus": Rule(frozenset({"issuer", "operator"})),
    "VerifyScoCode": Rule(public=True, audited=False),
    "GetTrustList": Rule(public=True, audited=False),
    "GetStatusList": Rule(public=True, audited=False),
    "ScanScoCode": Rule(public=True, audited=False),
    # ReportService: readers ask for reports as they ask for profiles; the asker, the company's
    # portal and operators fetch them; anyone checks a copy (not audited, as scanning an SCO
    # code); operators revoke.
    "CreateReport": Rule(READERS),
    "GetReport": Rule(READERS | {"operator"}),
    "ListReports": Rule(READERS | {"operator"}),
    "VerifyReport": Rule(public=True, audited=False),
    "RevokeReport": _OPERATOR,
    "ReportPage": Rule(public=True, audited=False),
    # AdminService
    "ListPartners": _OPERATOR,
    "GetPartner": _OPERATOR,
    "RegisterPartner": _OPERATOR,
    "SuspendPartner": _OPERATOR,
    "ReinstatePartner": _OPERATOR,
    "AddPartnerKey": _OPERATOR,
    "RetirePartnerKey": _OPERATOR,
    "AddPartnerCertificate": _OPERATOR,
    "RemovePartnerCertificate": _OPERATOR,
    "SetPartnerQuota": _OPERATOR,
    "ListRefusals": _OPERATOR,
    # AuditService: hashes, checkpoints and proofs are public; an entry's contents are shown to
    # the partner whose call it records (and to operators); witnesses co-sign.
    "GetCheckpoint": Rule(public=True, audited=False),
    "ListEntries": Rule(public=True, identifies=True, audited=False),
    "GetInclusionProof": Rule(public=True, audited=False),
    "GetConsistencyProof": Rule(public=True, audited=False),
    "AddCosignature": Rule(frozenset({"witness", "gateway"})),
    # Federation: a gateway's document and its peers' checkpoints are public, like its keys.
    "GetFederationDocument": Rule(public=True, audited=False),
    "GetPeerCheckpoint": Rule(public=True, audited=False),
    "RegisterPeer": _OPERATOR,
    "ListPeers": _OPERATOR,
    "RefreshPeer": _OPERATOR,
    "ListPeerAlarms": _OPERATOR,
    "SetPeerRoute": _OPERATOR,
    "ListPeerRoutes": _OPERATOR,
    # Public: the token endpoint authenticates its caller itself (client assertion); keys,
    # health and the API description are for everyone.
    "CreateToken": Rule(public=True),
    "GetJwks": Rule(public=True, audited=False),
    "GetAuthorizationServerMetadata": Rule(public=True, audited=False),
    "Health": Rule(public=True, audited=False),
    "Liveness": Rule(public=True, audited=False),
    "Readiness": Rule(public=True, audited=False),
    "GetApiDescription": Rule(public=True, audited=False),
}


def rule_for(operation: str) -> Rule:
    """The rule of an operation; an operation without one is refused (default deny)."""
    rule = OPERATIONS.get(operation)
    if rule is None:
        raise PermissionDenied(f"operation {operation!r} has no access policy")
    return rule


def authorize(partner: Partner, operation: str) -> None:
    """Refuse unless the partner is active and its roles (and its own operation list, when it
    has one) allow ``operation``."""
    rule = rule_for(operation)
    if not partner.active:
        raise PermissionDenied(f"partner {partner.id!r} is {partner.status}")
    if rule.public:
        return
    if not partner.roles & rule.roles:
        raise PermissionDenied(
            f"partner {partner.id!r} (roles {', '.join(sorted(partner.roles))}) may not call {operation}"
        )
    if partner.operations and operation not in partner.operations:
        raise PermissionDenied(f"partner {partner.id!r} is not registered for {operation}")


# -- Purposes and views --------------------------------------------------------------------------

FULL, CUSTOMS, SUMMARY = "full", "customs", "summary"


@dataclass(frozen=True)
class Purpose:
    name: str
    roles: frozenset[str]
    view: str
    needs_consent: bool
    description: str
    # A peer gateway's answer may be kept and served again (CXG_FEDERATION_CACHE_SECONDS), and
    # served stale while the peer is down (CXG_FEDERATION_STALE_SECONDS): for a counterparty
    # check, where a minute-old summary is as good; never where a suspension must tell at once.
    relay_cache: bool = False


PURPOSES: dict[str, Purpose] = {
    p.name: p
    for p in (
        # A peer gateway may relay the purposes that need no consent and show no full profile:
        # consents are granted at one gateway, and the full views are for licensed bureaus and
        # consented lenders, whom a peer cannot vouch for.
        Purpose(
            "trade_due_diligence",
            READERS | {"gateway"},
            SUMMARY,
            needs_consent=False,
            description="Check a trading counterparty: identifiers, names, status, common grade, AEO.",
            relay_cache=True,
        ),
        Purpose(
            "customs_clearance",
            frozenset({"customs", "gateway"}),
            CUSTOMS,
            needs_consent=False,
            description="Customs control under an AEO arrangement: identifiers, address, AEO, customs records.",
        ),
        Purpose(
            "credit_assessment",
            frozenset({"bank", "credit_bureau"}),
            FULL,
            needs_consent=True,
            description="Lending decision: the whole profile, with the subject's consent.",
        ),
        Purpose(
            "credit_reporting",
            frozenset({"credit_bureau"}),
            FULL,
            needs_consent=False,
            description="Exchange between licensed credit bureaus: the whole profile.",
        ),
    )
}


def purpose_for(partner: Partner, name: str, *, field: str = "purpose") -> Purpose:
    """The purpose a partner states, if its roles and its registration allow it."""
    if not name:
        raise InvalidArgument(f"state a purpose, one of {', '.join(PURPOSES)}", field=field)
    purpose = PURPOSES.get(name)
    if purpose is None:
        raise InvalidArgument(
            f"unknown purpose {name!r}; known: {', '.join(PURPOSES)}", field=field
        )
    if not partner.roles & purpose.roles or (partner.purposes and name not in partner.purposes):
        raise PermissionDenied(f"partner {partner.id!r} may not ask for purpose {name!r}")
    return purpose


def minimize(profile: CreditProfile, view: str) -> CreditProfile:
    """A copy of ``profile`` with only the fields ``view`` allows (FULL: the profile itself)."""
    if view == FULL:
        return profile
    kept = CreditProfile(name=profile.name, version=profile.version)
    for validity in ("valid_from", "valid_until"):
        if profile.HasField(validity):
            getattr(kept, validity).CopyFrom(getattr(profile, validity))
    kept.aeo.extend(profile.aeo)
    subject = kept.subject
    subject.ids.extend(profile.subject.ids)
    subject.legal_name.CopyFrom(profile.subject.legal_name)
    subject.country = profile.subject.country
    subject.legal_form = profile.subject.legal_form
    subject.status = profile.subject.status
    if view == CUSTOMS:
        # Who published the records and as of when: what lets a customs officer (and a credit
        # report in this view) read the absence of a customs record as "none recorded".
        if profile.HasField("provenance"):
            kept.provenance.CopyFrom(profile.provenance)
        subject.address.CopyFrom(profile.subject.address)
        subject.registration_date = profile.subject.registration_date
        kept.public_records.extend(
            r
            for r in profile.public_records
            if r.authority_type == AuthorityType.AUTHORITY_TYPE_CUSTOMS
        )
    elif view == SUMMARY:
        if profile.HasField("common_grade"):
            kept.common_grade.CopyFrom(profile.common_grade)
    else:
        raise ValueError(f"unknown view {view!r}")
    return kept
