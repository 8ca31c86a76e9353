"""audit log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 14:03:20.615729
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_leaves",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_audit_leaves")),
    )
    with op.batch_alter_table("audit_leaves", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_leaves_partner_id"), ["partner_id"], unique=False
        )

    op.create_table(
        "audit_nodes",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_audit_nodes")),
    )
    op.create_table(
        "audit_state",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_state")),
    )
    # The one row sequencers lock; the log starts empty.
    op.execute(sa.text("INSERT INTO audit_state (id, size) VALUES (1, 0)"))
    op.create_table(
        "audit_cosignatures",
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("witness", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["size"],
            ["audit_checkpoints.size"],
            name=op.f("fk_audit_cosignatures_size_audit_checkpoints"),
        ),
        sa.PrimaryKeyConstraint("size", "witness", name=op.f("pk_audit_cosignatures")),
    )


def downgrade() -> None:
    op.drop_table("audit_cosignatures")
    op.drop_table("audit_state")
    op.drop_table("audit_nodes")
    with op.batch_alter_table("audit_leaves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_leaves_partner_id"))

    op.drop_table("audit_leaves")
    op.drop_table("audit_checkpoints")
