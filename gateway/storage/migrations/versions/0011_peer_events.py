"""across borders: the peers' profile versions relayed to partners, the peers' SETs taken

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "peer_disclosures",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("peer", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=False),
        sa.Column("disclosed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_disclosures")),
    )
    op.create_index(
        "ix_peer_disclosures_profile",
        "peer_disclosures",
        ["peer", "profile_id", "partner_id"],
    )
    op.create_table(
        "peer_events",
        sa.Column("peer", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("peer", "digest", name=op.f("pk_peer_events")),
    )


def downgrade() -> None:
    op.drop_table("peer_events")
    op.drop_index("ix_peer_disclosures_profile", table_name="peer_disclosures")
    op.drop_table("peer_disclosures")
