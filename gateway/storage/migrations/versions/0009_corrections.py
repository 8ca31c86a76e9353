"""corrections: disputes, record repairs, and the profiles' marks generation

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("marks", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("filer_fields", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=False),
        sa.Column("filed_by", sa.String(length=64), nullable=False),
        sa.Column("filer", sa.String(length=12), nullable=False),
        sa.Column("publisher", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_date", sa.String(length=10), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_reasons", sa.Text(), nullable=True),
        sa.Column("corrected_version", sa.Integer(), nullable=True),
        sa.Column("reviewed_codes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_disputes_profile_id_profiles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    op.create_index(op.f("ix_disputes_filed_by"), "disputes", ["filed_by"])
    op.create_index(op.f("ix_disputes_publisher"), "disputes", ["publisher"])
    op.create_index("ix_disputes_profile_id", "disputes", ["profile_id", "state"])
    op.create_index("ix_disputes_state", "disputes", ["state", "due_date"])
    op.create_table(
        "record_repairs",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("decision_number", sa.String(length=200), nullable=False),
        sa.Column("decision_date", sa.String(length=10), nullable=False),
        sa.Column("repair_date", sa.String(length=10), nullable=False),
        sa.Column("repair_authority", sa.String(length=200), nullable=False),
        sa.Column("repair_decision_number", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_record_repairs_profile_id_profiles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_repairs")),
    )
    op.create_index(op.f("ix_record_repairs_profile_id"), "record_repairs", ["profile_id"])


def downgrade() -> None:
    op.drop_table("record_repairs")
    op.drop_table("disputes")
    with op.batch_alter_table("profiles") as batch:
        batch.drop_column("marks")
