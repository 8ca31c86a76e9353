"""The database schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create exactly this;
a test compares the two."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: give the gateway timezone-aware times")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
_RowId = BigInteger().with_variant(Integer(), "sqlite")

profiles = Table(
    "profiles",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("country", String(2), nullable=False, index=True),
    Column("latest_version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Bumped by each dispute filed or answered and each repair: what every served view of the
    # profile's versions shows beyond the stored version (marks, records withheld) changed, so
    # the views signed before are stale (part of the view cache's key).
    Column("marks", Integer, nullable=False, server_default="0"),
)

# Every identifier any version of a profile was published with resolves to that profile.
profile_identifiers = Table(
    "profile_identifiers",
    metadata,
    Column("scheme", String(16), primary_key=True),
    Column("value", String(64), primary_key=True),
    Column("profile_id", ForeignKey("profiles.id"), nullable=False, index=True),
)

# Case-folded legal names of the latest version, for prefix search.
profile_names = Table(
    "profile_names",
    metadata,
    Column("profile_id", ForeignKey("profiles.id"), primary_key=True),
    Column("name_folded", String(512), primary_key=True),
    Index(
        "ix_profile_names_name_folded",
        "name_folded",
        postgresql_ops={"name_folded": "text_pattern_ops"},  # LIKE 'prefix%' can use the index
    ),
)

# Append-only: one row per published version, never updated.
profile_versions = Table(
    "profile_versions",
    metadata,
    Column("id", _RowId, primary_key=True, autoincrement=True),
    Column("profile_id", ForeignKey("profiles.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("publisher", String(64), nullable=False),
    Column("published_at", UtcDateTime(), nullable=False),
    Column("payload_sha256", String(64), nullable=False),
    # SHA-256 of the partner's JWS: a second arrival of the same JWS is a replay.
    Column("request_sha256", String(64), nullable=False, unique=True),
    Column("jws", Text, nullable=False),
    Column("profile_pb", LargeBinary, nullable=False),
    Column("source_jws", Text, nullable=False),
    UniqueConstraint("profile_id", "version", name="uq_profile_versions_profile_id_version"),
)

# The partner registry: institutions, their public keys and their mTLS client certificates.
partners = Table(
    "partners",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("country", String(2), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("purposes", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Operations allowed beyond what the roles decide: an empty list means all of the roles'.
    Column("operations", JSON, nullable=False, server_default="[]"),
    # Request limits; NULL means the gateway's default.
    Column("requests_per_second", Float),
    Column("burst", Integer),
    Column("daily_requests", BigInteger),
)

partner_keys = Table(
    "partner_keys",
    metadata,
    Column("kid", String(128), primary_key=True),
    Column("partner_id", ForeignKey("partners.id"), nullable=False, index=True),
    Column("alg", String(16), nullable=False),
    Column("jwk", JSON, nullable=False),
    Column("not_before", UtcDateTime()),
    Column("not_after", UtcDateTime()),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("retired_at", UtcDateTime()),
)

# One-time identifiers already seen (client assertion and DPoP proof jti), until they expire:
# shared by every replica and kept across restarts, so a replay is caught anywhere.
seen_jtis = Table(
    "seen_jtis",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
)

# mTLS client certificates registered for a partner, by RFC 8705 x5t#S256 thumbprint.
partner_certificates = Table(
    "partner_certificates",
    metadata,
    Column("thumbprint", String(64), primary_key=True),
    Column("partner_id", ForeignKey("partners.id"), nullable=False, index=True),
    Column("subject", String(512), nullable=False),
    Column("not_after", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# A company's consent, recorded by the SME portal acting for it: grantee may see the profile
# for purpose until expires_at, unless revoked.
consents = Table(
    "consents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("profile_id", ForeignKey("profiles.id"), nullable=False),
    Column("subject_scheme", String(16), nullable=False),
    Column("subject_value", String(64), nullable=False),
    Column("grantee", ForeignKey("partners.id"), nullable=False, index=True),
    Column("purpose", String(64), nullable=False),
    Column("granted_by", ForeignKey("partners.id"), nullable=False, index=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime()),
)

# Every refused request: who (when known), what, why. Append-only.
refusals = Table(
    "refusals",
    metadata,
    Column("id", _RowId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("partner_id", String(64), index=True),
    Column("operation", String(64), nullable=False),
    Column("transport", String(8), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("field", String(256)),
)

# Requests counted against daily quotas, per partner and UTC day, summed over every replica.
quota_usage = Table(
    "quota_usage",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("requests", BigInteger, nullable=False),
)

# The audit log (RFC 9162): leaves in order; the hash of every perfect subtree, leaves included,
# under one integer key (index << 6 | level) so that any root or proof is one lookup of O(log n)
# keys; and the log's size, whose row a sequencer locks so that replicas append in turn.
audit_leaves = Table(
    "audit_leaves",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
    # Whose call it records; an entry's contents are shown to that partner (and operators).
    Column("partner_id", String(64), index=True),
)

audit_nodes = Table(
    "audit_nodes",
    metadata,
    Column("key", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

audit_state = Table(
    "audit_state",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
)

# Checkpoints the gateway signed (never two different roots for one size), and witnesses'
# co-signatures of them.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", UtcDateTime(), nullable=False),
)

audit_cosignatures = Table(
    "audit_cosignatures",
    metadata,
    Column("size", ForeignKey("audit_checkpoints.size"), primary_key=True),
    Column("witness", String(64), primary_key=True),
    Column("signature", Text, nullable=False),
    Column("added_at", UtcDateTime(), nullable=False),
)

# Rule packs ever activated, by the SHA-256 of the pack file; the operator-signed file itself.
# One version of a pack id is active at a time; the ones it replaced stay, for audit.
rule_packs = Table(
    "rule_packs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("pack_id", String(64), nullable=False, index=True),
    Column("version", String(32), nullable=False),
    Column("jws", Text, nullable=False),
    Column("activated_at", UtcDateTime(), nullable=False),
    Column("active", Boolean, nullable=False),
)

# SCO codes issued by this gateway: the signed text, and the state the status list publishes
# at the code's index (its place in the list, given in issue order, never reused).
sco_codes = Table(
    "sco_codes",
    metadata,
    Column("code_id", String(32), primary_key=True),
    Column("status_index", Integer, nullable=False, unique=True),
    Column("profile_id", ForeignKey("profiles.id"), nullable=False, index=True),
    Column("issued_by", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
    Column("text", Text, nullable=False),
)

# Who received which profile version: one row per answered GetProfile, written with its audit
# leaf (``leaf_index``). The recipients a correction or a repair must reach, and the companies a
# "received" subscription covers.
profile_disclosures = Table(
    "profile_disclosures",
    metadata,
    Column("id", _RowId, primary_key=True, autoincrement=True),
    Column("profile_id", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("partner_id", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("leaf_index", BigInteger, nullable=False),
    Column("disclosed_at", UtcDateTime(), nullable=False),
    Index("ix_profile_disclosures_profile_id", "profile_id", "disclosed_at"),
    Index("ix_profile_disclosures_partner_id", "partner_id", "profile_id"),
)

# Security events (RFC 8417): a partner's subscriptions; the outbox, one row per change written
# in the transaction that makes the change; and one delivery per event and subscription, holding
# the SET signed for that subscriber, delivered by push (RFC 8935) or poll (RFC 8936).
event_subscriptions = Table(
    "event_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("partner_id", String(64), nullable=False, index=True),
    Column("purpose", String(32), nullable=False),  # what its events may say (the view)
    Column("scope", String(16), nullable=False),  # "named" or "received"
    Column("event_types", JSON, nullable=False),  # slugs (gateway/events/sets.py)
    Column("delivery", String(8), nullable=False),  # "push" or "poll"
    Column("endpoint", String(2048)),  # push only
    Column("created_at", UtcDateTime(), nullable=False),
    Column("deleted_at", UtcDateTime()),
)

# The companies a "named" subscription covers, by identifier: a company not yet published is
# covered from its first version on.
event_subscription_ids = Table(
    "event_subscription_ids",
    metadata,
    Column("subscription_id", ForeignKey("event_subscriptions.id"), primary_key=True),
    Column("scheme", String(16), primary_key=True),
    Column("value", String(64), primary_key=True),
    Index("ix_event_subscription_ids_scheme", "scheme", "value"),
)

event_outbox = Table(
    "event_outbox",
    metadata,
    Column("seq", _RowId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # what happened: "version", "sco-status", ...
    Column("profile_id", String(32), nullable=False),
    Column("version", Integer, nullable=False),  # the profile's version it concerns
    Column("detail", JSON, nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("dispatched_at", UtcDateTime(), index=True),  # fanned out into deliveries
)

event_deliveries = Table(
    "event_deliveries",
    metadata,
    Column("id", _RowId, primary_key=True, autoincrement=True),
    Column("jti", String(32), nullable=False, unique=True),
    Column("subscription_id", ForeignKey("event_subscriptions.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),  # the outbox row's: the order per company
    Column("profile_id", String(32), nullable=False),
    Column("set_jws", Text, nullable=False),
    Column("state", String(12), nullable=False),  # pending, delivered, dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("lease_until", UtcDateTime()),  # a deliverer (or a poll) holds it until then
    Column("last_error", String(512)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime()),
    Index("ix_event_deliveries_state", "state", "next_attempt_at"),
    Index("ix_event_deliveries_subscription_id", "subscription_id", "profile_id", "seq"),
)

# Disputes (异议) on a profile version: the fields contested (JSON pointers into the full view
# of the version; ``filer_fields`` as the filer's view showed them), the answer, and the SCO
# codes the dispute put under review (given back when it closes).
disputes = Table(
    "disputes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("profile_id", ForeignKey("profiles.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("fields", JSON, nullable=False),
    Column("filer_fields", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Column("evidence_sha256", String(64), nullable=False),
    Column("filed_by", String(64), nullable=False, index=True),
    Column("filer", String(12), nullable=False),  # "subject" or "recipient"
    Column("publisher", String(64), nullable=False, index=True),
    Column("state", String(12), nullable=False),  # open, corrected, upheld, rejected
    Column("filed_at", UtcDateTime(), nullable=False),
    Column("due_date", String(10), nullable=False),  # ISO 8601
    Column("answered_at", UtcDateTime()),
    Column("answer_reasons", Text),
    Column("corrected_version", Integer),
    Column("reviewed_codes", JSON, nullable=False),
    Index("ix_disputes_profile_id", "profile_id", "state"),
    Index("ix_disputes_state", "state", "due_date"),
)

# Credit repairs (信用修复): a negative record of a profile, named as its publisher states it,
# that no partner's view of any version shows from ``recorded_at`` on.
record_repairs = Table(
    "record_repairs",
    metadata,
    Column("id", _RowId, primary_key=True, autoincrement=True),
    Column("profile_id", ForeignKey("profiles.id"), nullable=False, index=True),
    Column("kind", Integer, nullable=False),  # PublicRecordKind
    Column("decision_number", String(200), nullable=False),
    Column("decision_date", String(10), nullable=False),
    Column("repair_date", String(10), nullable=False),
    Column("repair_authority", String(200), nullable=False),
    Column("repair_decision_number", String(200), nullable=False),
    Column("version", Integer, nullable=False),  # the version the repair stored
    Column("recorded_by", String(64), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

# Federation: other gateways this one pins and witnesses. A peer is also a partner (role
# "gateway"): its keys, status and suspension are the partner's, followed from its document.
peers = Table(
    "peers",
    metadata,
    Column("id", ForeignKey("partners.id"), primary_key=True),
    Column("gateway", String(253), nullable=False),  # the id its documents must name
    Column("url", String(2048), nullable=False),  # its REST base URL
    Column("local_id", String(64)),  # this gateway's partner id there: it co-signs there
    Column("pinned", JSON, nullable=False),  # the public JWKs its next document must be signed by
    Column("document", Text),  # the last document accepted, as received
    Column("issued_at", UtcDateTime()),  # that document's issue time: never go back before it
    Column("refreshed_at", UtcDateTime()),
    Column("problem", Text),  # why the last refresh or witnessing failed; None when it did not
    Column("seen_size", BigInteger),  # the last checkpoint of its log witnessed
    Column("seen_note", Text),
    Column("cosignature", Text),  # this gateway's signature line on seen_note
    Column("status_list", Text),  # its SCO status list as last fetched (verified), a JWS
    Column("created_at", UtcDateTime(), nullable=False),
)

# What a witness found that a log cannot explain: two checkpoints that cannot both be true, or
# a federation document older than one accepted. Both signed texts are kept as evidence.
peer_alarms = Table(
    "peer_alarms",
    metadata,
    Column("id", _RowId, primary_key=True, autoincrement=True),
    Column("peer", ForeignKey("peers.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),  # "split-view", "rollback"
    Column("message", Text, nullable=False),
    Column("seen", Text, nullable=False),
    Column("offered", Text, nullable=False),
    Column("detected_at", UtcDateTime(), nullable=False),
)

# The operator's routing table: lookups of these identifiers are answered by the peer that holds
# them. ``country`` narrows a scheme that spans countries (an AEO number's prefix); "" is any.
peer_routes = Table(
    "peer_routes",
    metadata,
    Column("scheme", String(32), primary_key=True),
    Column("country", String(2), primary_key=True),
    Column("peer", ForeignKey("peers.id"), nullable=False, index=True),
)

# Across borders: the peers' profile versions this gateway relayed to its partners (who received
# what from where), and the peers' SETs taken into the outbox, by a digest of what they say (a
# change polled twice is forwarded once); a peer's events reach the partners it was relayed to.
peer_disclosures = Table(
    "peer_disclosures",
    metadata,
    Column("id", _RowId, primary_key=True, autoincrement=True),
    Column("peer", String(64), nullable=False),
    Column("profile_id", String(32), nullable=False),  # the peer's
    Column("version", Integer, nullable=False),
    Column("partner_id", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("leaf_index", BigInteger, nullable=False),
    Column("disclosed_at", UtcDateTime(), nullable=False),
    Index("ix_peer_disclosures_profile", "peer", "profile_id", "partner_id"),
)

peer_events = Table(
    "peer_events",
    metadata,
    Column("peer", String(64), primary_key=True),
    Column("digest", String(64), primary_key=True),  # of what the SET says (not its jti)
    Column("received_at", UtcDateTime(), nullable=False),
)

# Credit reports issued (gateway/service/reports.py): the signed document itself, kept for
# GetReport, and its SHA-256, by which anyone holding a copy checks it.
reports = Table(
    "reports",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("profile_id", ForeignKey("profiles.id"), nullable=False, index=True),
    Column("profile_version", Integer, nullable=False),
    Column("subject_scheme", String(32), nullable=False),
    Column("subject_value", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("language", String(8), nullable=False),
    Column("period_start", String(10), nullable=False),
    Column("period_end", String(10), nullable=False),
    Column("requested_by", String(64), nullable=False, index=True),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("revoke_reason", Text, nullable=False, default=""),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("size_bytes", Integer, nullable=False),
    Column("pdf", LargeBinary, nullable=False),
)
