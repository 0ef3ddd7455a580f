"""the audit: who created or revoked a client, made a policy version, or acted as an admin

``audit_events`` is written in the transaction of the change it records (``coop.audit``):
its region, the authority acted for or on (NULL for the region's own), the actor (a client's
id, or ``cli``), an action from a fixed list, the id of the thing, and details that never
hold a secret, a token or a child's data. Indexed to list a region's or an authority's
events by time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ACTIONS = (
    "client.created",
    "client.revoked",
    "authority.added",
    "authority.changed",
    "policy.versioned",
    "settlement_run.requested",
    "payment.recorded",
    "bookings.imported",
)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("authority", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "action IN (" + ", ".join(repr(a) for a in ACTIONS) + ")",
            name=op.f("ck_audit_events_action"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_region_at", "audit_events", ["region", "at"], unique=False)
    op.create_index(
        "ix_audit_events_authority_at", "audit_events", ["authority", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_authority_at", table_name="audit_events")
    op.drop_index("ix_audit_events_region_at", table_name="audit_events")
    op.drop_table("audit_events")
