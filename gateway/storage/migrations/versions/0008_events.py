"""security events: disclosures, subscriptions, outbox, deliveries

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "profile_disclosures",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=False),
        sa.Column("disclosed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_disclosures")),
    )
    op.create_index(
        "ix_profile_disclosures_profile_id",
        "profile_disclosures",
        ["profile_id", "disclosed_at"],
    )
    op.create_index(
        "ix_profile_disclosures_partner_id", "profile_disclosures", ["partner_id", "profile_id"]
    )
    op.create_table(
        "event_subscriptions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("delivery", sa.String(length=8), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_subscriptions")),
    )
    op.create_index(
        op.f("ix_event_subscriptions_partner_id"), "event_subscriptions", ["partner_id"]
    )
    op.create_table(
        "event_subscription_ids",
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["event_subscriptions.id"],
            name=op.f("fk_event_subscription_ids_subscription_id_event_subscriptions"),
        ),
        sa.PrimaryKeyConstraint(
            "subscription_id", "scheme", "value", name=op.f("pk_event_subscription_ids")
        ),
    )
    op.create_index(
        "ix_event_subscription_ids_scheme", "event_subscription_ids", ["scheme", "value"]
    )
    op.create_table(
        "event_outbox",
        sa.Column("seq", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_event_outbox")),
    )
    op.create_index(op.f("ix_event_outbox_dispatched_at"), "event_outbox", ["dispatched_at"])
    op.create_table(
        "event_deliveries",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("jti", sa.String(length=32), nullable=False),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("set_jws", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["event_subscriptions.id"],
            name=op.f("fk_event_deliveries_subscription_id_event_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_deliveries")),
        sa.UniqueConstraint("jti", name=op.f("uq_event_deliveries_jti")),
    )
    op.create_index("ix_event_deliveries_state", "event_deliveries", ["state", "next_attempt_at"])
    op.create_index(
        "ix_event_deliveries_subscription_id",
        "event_deliveries",
        ["subscription_id", "profile_id", "seq"],
    )


def downgrade() -> None:
    for table in (
        "event_deliveries",
        "event_outbox",
        "event_subscription_ids",
        "event_subscriptions",
        "profile_disclosures",
    ):
        op.drop_table(table)
