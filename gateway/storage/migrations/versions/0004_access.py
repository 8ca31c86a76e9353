"""access: certificates, consents, refusals, quotas

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 13:06:05.770343
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_usage",
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", "day", name=op.f("pk_quota_usage")),
    )
    op.create_table(
        "refusals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=True),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("field", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refusals")),
    )
    with op.batch_alter_table("refusals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refusals_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("subject_scheme", sa.String(length=16), nullable=False),
        sa.Column("subject_value", sa.String(length=64), nullable=False),
        sa.Column("grantee", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["granted_by"], ["partners.id"], name=op.f("fk_consents_granted_by_partners")
        ),
        sa.ForeignKeyConstraint(
            ["grantee"], ["partners.id"], name=op.f("fk_consents_grantee_partners")
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_consents_profile_id_profiles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consents_granted_by"), ["granted_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_consents_grantee"), ["grantee"], unique=False)

    op.create_table(
        "partner_certificates",
        sa.Column("thumbprint", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_certificates_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("thumbprint", name=op.f("pk_partner_certificates")),
    )
    with op.batch_alter_table("partner_certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_certificates_partner_id"), ["partner_id"], unique=False
        )

    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operations", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("requests_per_second", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("burst", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("daily_requests", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.drop_column("daily_requests")
        batch_op.drop_column("burst")
        batch_op.drop_column("requests_per_second")
        batch_op.drop_column("operations")

    with op.batch_alter_table("partner_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_certificates_partner_id"))

    op.drop_table("partner_certificates")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_grantee"))
        batch_op.drop_index(batch_op.f("ix_consents_granted_by"))

    op.drop_table("consents")
    with op.batch_alter_table("refusals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refusals_partner_id"))

    op.drop_table("refusals")
    op.drop_table("quota_usage")
