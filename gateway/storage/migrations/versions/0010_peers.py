"""federation: peers, the alarms their witnessing raised, the routing table

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("gateway", sa.String(length=253), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("local_id", sa.String(length=64), nullable=True),
        sa.Column("pinned", sa.JSON(), nullable=False),
        sa.Column("document", sa.Text(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("seen_size", sa.BigInteger(), nullable=True),
        sa.Column("seen_note", sa.Text(), nullable=True),
        sa.Column("cosignature", sa.Text(), nullable=True),
        sa.Column("status_list", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["id"], ["partners.id"], name=op.f("fk_peers_id_partners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peers")),
    )
    op.create_table(
        "peer_alarms",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("peer", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("seen", sa.Text(), nullable=False),
        sa.Column("offered", sa.Text(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["peer"], ["peers.id"], name=op.f("fk_peer_alarms_peer_peers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_alarms")),
    )
    op.create_index(op.f("ix_peer_alarms_peer"), "peer_alarms", ["peer"])
    op.create_table(
        "peer_routes",
        sa.Column("scheme", sa.String(length=32), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("peer", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["peer"], ["peers.id"], name=op.f("fk_peer_routes_peer_peers")),
        sa.PrimaryKeyConstraint("scheme", "country", name=op.f("pk_peer_routes")),
    )
    op.create_index(op.f("ix_peer_routes_peer"), "peer_routes", ["peer"])


def downgrade() -> None:
    op.drop_table("peer_routes")
    op.drop_table("peer_alarms")
    op.drop_table("peers")
