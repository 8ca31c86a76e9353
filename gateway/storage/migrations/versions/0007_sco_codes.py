"""sco codes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 18:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sco_codes",
        sa.Column("code_id", sa.String(length=32), nullable=False),
        sa.Column("status_index", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_sco_codes_profile_id_profiles")
        ),
        sa.PrimaryKeyConstraint("code_id", name=op.f("pk_sco_codes")),
        sa.UniqueConstraint("status_index", name=op.f("uq_sco_codes_status_index")),
    )
    with op.batch_alter_table("sco_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sco_codes_profile_id"), ["profile_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sco_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sco_codes_profile_id"))
    op.drop_table("sco_codes")
