"""initial schema: profiles, identifiers, names, versions

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27 10:57:32.819017
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
    )
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profiles_country"), ["country"], unique=False)

    op.create_table(
        "profile_identifiers",
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_profile_identifiers_profile_id_profiles")
        ),
        sa.PrimaryKeyConstraint("scheme", "value", name=op.f("pk_profile_identifiers")),
    )
    with op.batch_alter_table("profile_identifiers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_profile_identifiers_profile_id"), ["profile_id"], unique=False
        )

    op.create_table(
        "profile_names",
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("name_folded", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_profile_names_profile_id_profiles")
        ),
        sa.PrimaryKeyConstraint("profile_id", "name_folded", name=op.f("pk_profile_names")),
    )
    with op.batch_alter_table("profile_names", schema=None) as batch_op:
        batch_op.create_index(
            "ix_profile_names_name_folded",
            ["name_folded"],
            unique=False,
            postgresql_ops={"name_folded": "text_pattern_ops"},
        )

    op.create_table(
        "profile_versions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("profile_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("publisher", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("profile_pb", sa.LargeBinary(), nullable=False),
        sa.Column("source_jws", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_profile_versions_profile_id_profiles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_versions")),
        sa.UniqueConstraint("profile_id", "version", name="uq_profile_versions_profile_id_version"),
        sa.UniqueConstraint("request_sha256", name=op.f("uq_profile_versions_request_sha256")),
    )


def downgrade() -> None:
    op.drop_table("profile_versions")
    with op.batch_alter_table("profile_names", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_profile_names_name_folded", postgresql_ops={"name_folded": "text_pattern_ops"}
        )

    op.drop_table("profile_names")
    with op.batch_alter_table("profile_identifiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_identifiers_profile_id"))

    op.drop_table("profile_identifiers")
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profiles_country"))

    op.drop_table("profiles")
