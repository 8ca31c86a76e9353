"""rule packs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 19:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_packs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pack_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_rule_packs")),
    )
    with op.batch_alter_table("rule_packs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rule_packs_pack_id"), ["pack_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rule_packs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rule_packs_pack_id"))
    op.drop_table("rule_packs")
