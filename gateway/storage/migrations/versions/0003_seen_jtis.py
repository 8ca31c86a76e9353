"""seen jtis: replay protection shared by replicas

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 12:21:14.308415
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_jtis",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_seen_jtis")),
    )
    with op.batch_alter_table("seen_jtis", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_jtis_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("seen_jtis", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_jtis_expires_at"))

    op.drop_table("seen_jtis")
