"""members, clients, policy, homes, beds, voids

The ground floor: authorities (members of a regional cooperative), their API clients
(secrets stored as scrypt hashes), the versioned regional policy, and the market of homes,
beds and void periods. A bed cannot carry two open voids over the same day: an exclusion
constraint over ``daterange(available_from, available_until)``, which needs btree_gist.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 03:55:36.370747
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # btree_gist lets one GiST index mix `bed_id =` with `daterange &&` (exclusion constraints).
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")

    op.create_table(
        "authorities",
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("gss_code", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("membership", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "membership IN ('member', 'associate', 'suspended')",
            name=op.f("ck_authorities_membership"),
        ),
        sa.CheckConstraint(
            "region ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name=op.f("ck_authorities_region")
        ),
        sa.CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name=op.f("ck_authorities_slug")),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_authorities")),
        sa.UniqueConstraint("gss_code", name=op.f("uq_authorities_gss_code")),
    )
    op.create_index(op.f("ix_authorities_region"), "authorities", ["region"], unique=False)
    op.create_table(
        "region_policies",
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("region", "version", name=op.f("pk_region_policies")),
    )
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("authority", sa.Text(), nullable=True),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority"], ["authorities.slug"], name=op.f("fk_api_clients_authority_authorities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
    )
    op.create_index(op.f("ix_api_clients_authority"), "api_clients", ["authority"], unique=False)
    op.create_table(
        "homes",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("ofsted_urn", sa.Text(), nullable=False),
        sa.Column("ofsted_rating", sa.Text(), nullable=False),
        sa.Column("operator", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("district", sa.Text(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("age_min", sa.Integer(), nullable=False),
        sa.Column("age_max", sa.Integer(), nullable=False),
        sa.Column("gender", sa.Text(), nullable=False),
        sa.Column(
            "needs_supported", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "risks_managed", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("accepts_dols", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("weekly_cost_pence", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("gender IN ('mixed', 'male', 'female')", name=op.f("ck_homes_gender")),
        sa.CheckConstraint(
            "ofsted_rating IN ('outstanding', 'good', 'requires_improvement', 'inadequate', 'not_yet_inspected')",
            name=op.f("ck_homes_ofsted_rating"),
        ),
        sa.CheckConstraint(
            "operator IN ('in_house', 'commissioned', 'vcs_partnership')",
            name=op.f("ck_homes_operator"),
        ),
        sa.CheckConstraint(
            "purpose IN ('emergency', 'assessment', 'long_term')", name=op.f("ck_homes_purpose")
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_homes_status")),
        sa.CheckConstraint(
            "age_min >= 0 AND age_min <= age_max AND age_max <= 25", name=op.f("ck_homes_ages")
        ),
        sa.CheckConstraint(
            "latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180",
            name=op.f("ck_homes_geo"),
        ),
        sa.CheckConstraint("weekly_cost_pence >= 0", name=op.f("ck_homes_weekly_cost")),
        sa.ForeignKeyConstraint(
            ["owner"], ["authorities.slug"], name=op.f("fk_homes_owner_authorities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_homes")),
        sa.UniqueConstraint("ofsted_urn", name=op.f("uq_homes_ofsted_urn")),
    )
    op.create_index(op.f("ix_homes_owner"), "homes", ["owner"], unique=False)
    op.create_index("ix_homes_region_status", "homes", ["region", "status"], unique=False)
    op.create_table(
        "beds",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("home_id", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="in_use", nullable=False),
        sa.Column("out_of_use_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'in_use' AND out_of_use_reason IS NULL) OR (status = 'out_of_use' AND out_of_use_reason IN ('staffing', 'ofsted_restriction', 'matching', 'maintenance'))",
            name=op.f("ck_beds_out_of_use_reason"),
        ),
        sa.CheckConstraint("status IN ('in_use', 'out_of_use')", name=op.f("ck_beds_status")),
        sa.ForeignKeyConstraint(["home_id"], ["homes.id"], name=op.f("fk_beds_home_id_homes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_beds")),
        sa.UniqueConstraint("home_id", "label", name=op.f("uq_beds_home_id_label")),
    )
    op.create_index(op.f("ix_beds_home_id"), "beds", ["home_id"], unique=False)

    # A void: a window in which a bed is offered to the cooperative.
    op.create_table(
        "voids",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("bed_id", sa.Text(), nullable=False),
        sa.Column("home_id", sa.Text(), nullable=False),
        sa.Column("available_from", sa.Date(), nullable=False),
        sa.Column("available_until", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("home_priority_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("bed_id"), "="),
            (sa.text("daterange(available_from, available_until, '[)')"), "&&"),
            where=sa.text("status = 'open'"),
            using="gist",
            name="ex_voids_open_overlap",
        ),
        sa.CheckConstraint("status IN ('open', 'withdrawn')", name=op.f("ck_voids_status")),
        sa.CheckConstraint(
            "available_until IS NULL OR available_until > available_from",
            name=op.f("ck_voids_period"),
        ),
        sa.ForeignKeyConstraint(["bed_id"], ["beds.id"], name=op.f("fk_voids_bed_id_beds")),
        sa.ForeignKeyConstraint(["home_id"], ["homes.id"], name=op.f("fk_voids_home_id_homes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voids")),
    )
    op.create_index(op.f("ix_voids_bed_id"), "voids", ["bed_id"], unique=False)
    op.create_index(op.f("ix_voids_home_id"), "voids", ["home_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_voids_home_id"), table_name="voids")
    op.drop_index(op.f("ix_voids_bed_id"), table_name="voids")
    op.drop_table("voids")
    op.drop_index(op.f("ix_beds_home_id"), table_name="beds")
    op.drop_table("beds")
    op.drop_index("ix_homes_region_status", table_name="homes")
    op.drop_index(op.f("ix_homes_owner"), table_name="homes")
    op.drop_table("homes")
    op.drop_index(op.f("ix_api_clients_authority"), table_name="api_clients")
    op.drop_table("api_clients")
    op.drop_table("region_policies")
    op.drop_index(op.f("ix_authorities_region"), table_name="authorities")
    op.drop_table("authorities")
    # btree_gist stays: other databases' objects may use it.
