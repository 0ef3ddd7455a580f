"""bookings, events, idempotency keys

A booking is one resource from request to the end of a placement. ``hold_during`` is a
generated column: the days a booking holds its bed (offered/confirmed: the planned period;
active: arrival to planned end; ended: the occupied days). The exclusion constraint
``ex_bookings_held_overlap`` makes double booking impossible in the database, whatever the
code does. ``booking_events`` records every move; ``idempotency_keys`` keeps the first
response of a keyed POST with the hash of its request, written in the same transaction.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 04:06:54.915805
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("requester", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("void_id", sa.Text(), nullable=True),
        sa.Column("bed_id", sa.Text(), nullable=False),
        sa.Column("home_id", sa.Text(), nullable=False),
        sa.Column("child", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("urgency", sa.Text(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("max_weekly_price_pence", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("decide_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offer_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("weekly_rate_pence", sa.BigInteger(), nullable=True),
        sa.Column("price_breakdown", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("actual_start_date", sa.Date(), nullable=True),
        sa.Column("actual_end_date", sa.Date(), nullable=True),
        sa.Column("notice_date", sa.Date(), nullable=True),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
        sa.Column(
            "hold_during",
            postgresql.DATERANGE(),
            sa.Computed(
                "CASE\n  WHEN status IN ('offered', 'confirmed') THEN daterange(start_date, end_date, '[)')\n  WHEN status = 'active'\n    THEN daterange(COALESCE(actual_start_date, start_date), end_date, '[)')\n  WHEN status = 'ended' AND actual_end_date > COALESCE(actual_start_date, start_date)\n    THEN daterange(COALESCE(actual_start_date, start_date), actual_end_date, '[)')\nEND",
                persisted=True,
            ),
            nullable=True,
        ),
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
        postgresql.ExcludeConstraint(
            (sa.column("bed_id"), "="),
            (sa.column("hold_during"), "&&"),
            where=sa.text("hold_during IS NOT NULL"),
            using="gist",
            name="ex_bookings_held_overlap",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'offered', 'confirmed', 'active', 'ended', 'withdrawn', 'declined', 'expired', 'cancelled')",
            name=op.f("ck_bookings_status"),
        ),
        sa.CheckConstraint(
            "urgency IN ('today', 'within_5_days', 'planned')", name=op.f("ck_bookings_urgency")
        ),
        sa.CheckConstraint(
            "actual_end_date IS NULL OR actual_end_date >= COALESCE(actual_start_date, start_date)",
            name=op.f("ck_bookings_actual_period"),
        ),
        sa.CheckConstraint("end_date > start_date", name=op.f("ck_bookings_period")),
        sa.CheckConstraint(
            "max_weekly_price_pence IS NULL OR max_weekly_price_pence >= 0",
            name=op.f("ck_bookings_budget"),
        ),
        sa.CheckConstraint(
            "weekly_rate_pence IS NULL OR weekly_rate_pence >= 0", name=op.f("ck_bookings_rate")
        ),
        sa.ForeignKeyConstraint(["bed_id"], ["beds.id"], name=op.f("fk_bookings_bed_id_beds")),
        sa.ForeignKeyConstraint(["home_id"], ["homes.id"], name=op.f("fk_bookings_home_id_homes")),
        sa.ForeignKeyConstraint(
            ["owner"], ["authorities.slug"], name=op.f("fk_bookings_owner_authorities")
        ),
        sa.ForeignKeyConstraint(
            ["requester"], ["authorities.slug"], name=op.f("fk_bookings_requester_authorities")
        ),
        sa.ForeignKeyConstraint(["void_id"], ["voids.id"], name=op.f("fk_bookings_void_id_voids")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
    )
    op.create_index("ix_bookings_bed_id_status", "bookings", ["bed_id", "status"], unique=False)
    op.create_index("ix_bookings_home_id_status", "bookings", ["home_id", "status"], unique=False)
    op.create_index(
        "ix_bookings_due",
        "bookings",
        ["decide_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_bookings_offer_expiry",
        "bookings",
        ["offer_expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'offered'"),
    )
    op.create_index("ix_bookings_owner_id", "bookings", ["owner", "id"], unique=False)
    op.create_index("ix_bookings_requester_id", "bookings", ["requester", "id"], unique=False)
    op.create_table(
        "booking_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("booking_id", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("actor_authority", sa.Text(), nullable=True),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_booking_events_booking_id_bookings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_events")),
    )
    op.create_index(
        op.f("ix_booking_events_booking_id"), "booking_events", ["booking_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_booking_events_booking_id"), table_name="booking_events")
    op.drop_table("booking_events")
    op.drop_index("ix_bookings_requester_id", table_name="bookings")
    op.drop_index("ix_bookings_owner_id", table_name="bookings")
    op.drop_index(
        "ix_bookings_offer_expiry",
        table_name="bookings",
        postgresql_where=sa.text("status = 'offered'"),
    )
    op.drop_index(
        "ix_bookings_due", table_name="bookings", postgresql_where=sa.text("status = 'pending'")
    )
    op.drop_index("ix_bookings_home_id_status", table_name="bookings")
    op.drop_index("ix_bookings_bed_id_status", table_name="bookings")
    op.drop_table("bookings")
    op.drop_table("idempotency_keys")
