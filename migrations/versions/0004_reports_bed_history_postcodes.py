"""the reports: a bed's history, home postcodes, indexes for demand and capacity

``bed_states`` holds, per bed, the spans of days in which it was registered with one status
(``in_use`` or ``out_of_use`` with its reason). Triggers keep it from the rows' own
timestamps, so every way a bed is written (the API, an import, a bulk seed) leaves history:

* a bed inserted starts a span on the English date of its ``created_at`` (unless its home is
  closed);
* a bed whose status or reason changes ends its span and starts one on the date of its
  ``updated_at``;
* a home closed ends its beds' spans on the date of its ``updated_at``; reopened, starts them.

Existing beds get one span from the day they were created, in their current status (a closed
home's beds end on the day the home last changed).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("homes", sa.Column("postcode", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_homes_postcode"), "homes", "length(postcode) BETWEEN 5 AND 8"
    )
    op.create_table(
        "bed_states",
        sa.Column("bed_id", sa.Text(), nullable=False),
        sa.Column("home_id", sa.Text(), nullable=False),
        sa.Column("during", postgresql.DATERANGE(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("out_of_use_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("NOT isempty(during)", name=op.f("ck_bed_states_during")),
        sa.CheckConstraint("status IN ('in_use', 'out_of_use')", name=op.f("ck_bed_states_status")),
        sa.ForeignKeyConstraint(["bed_id"], ["beds.id"], name=op.f("fk_bed_states_bed_id_beds")),
        sa.ForeignKeyConstraint(
            ["home_id"], ["homes.id"], name=op.f("fk_bed_states_home_id_homes")
        ),
        postgresql.ExcludeConstraint(
            (sa.column("bed_id"), "="),
            (sa.column("during"), "&&"),
            using="gist",
            name="ex_bed_states_overlap",
        ),
    )
    op.create_index(op.f("ix_bed_states_home_id"), "bed_states", ["home_id"], unique=False)
    op.create_index(
        "ix_bookings_region_created_at", "bookings", ["region", "created_at"], unique=False
    )
    op.create_index(
        "ix_bookings_region_hold_during",
        "bookings",
        ["region", "hold_during"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index(
        "ix_bookings_region_late_start",
        "bookings",
        ["region", "start_date"],
        unique=False,
        postgresql_where=sa.text("actual_start_date > start_date"),
    )
    for statement in TRIGGERS:
        op.execute(statement)
    op.execute(BACKFILL)


#: the English date of an instant, as ``coop.clock.local_date``
DAY = "(({0}) AT TIME ZONE 'Europe/London')::date"

TRIGGERS = [
    """
    CREATE FUNCTION coop_bed_state(
      p_bed text, p_home text, p_day date, p_status text, p_reason text, p_registered boolean
    ) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      -- what the bed was from p_day on is now what it is: drop later spans, cut the one
      -- running over p_day, then start the new one (unless it is no longer registered)
      DELETE FROM bed_states WHERE bed_id = p_bed AND lower(during) >= p_day;
      UPDATE bed_states SET during = daterange(lower(during), p_day)
        WHERE bed_id = p_bed AND during @> p_day;
      IF p_registered THEN
        INSERT INTO bed_states (bed_id, home_id, during, status, out_of_use_reason)
          VALUES (p_bed, p_home, daterange(p_day, NULL), p_status, p_reason);
      END IF;
    END $$
    """,
    f"""
    CREATE FUNCTION coop_bed_written() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM coop_bed_state(
        NEW.id, NEW.home_id,
        {DAY.format("CASE WHEN TG_OP = 'INSERT' THEN NEW.created_at ELSE NEW.updated_at END")},
        NEW.status, NEW.out_of_use_reason,
        (SELECT status = 'open' FROM homes WHERE id = NEW.home_id));
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER tr_beds_history_insert AFTER INSERT ON beds
      FOR EACH ROW EXECUTE FUNCTION coop_bed_written()
    """,
    """
    CREATE TRIGGER tr_beds_history_update AFTER UPDATE OF status, out_of_use_reason ON beds
      FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                         OR OLD.out_of_use_reason IS DISTINCT FROM NEW.out_of_use_reason)
      EXECUTE FUNCTION coop_bed_written()
    """,
    f"""
    CREATE FUNCTION coop_home_status_written() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM coop_bed_state(b.id, b.home_id, {DAY.format("NEW.updated_at")}, b.status,
                             b.out_of_use_reason, NEW.status = 'open')
        FROM beds b WHERE b.home_id = NEW.id;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER tr_homes_bed_history AFTER UPDATE OF status ON homes
      FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
      EXECUTE FUNCTION coop_home_status_written()
    """,
]

BACKFILL = f"""
INSERT INTO bed_states (bed_id, home_id, during, status, out_of_use_reason)
SELECT b.id, b.home_id,
       daterange({DAY.format("b.created_at")},
                 CASE WHEN h.status = 'closed' THEN {DAY.format("h.updated_at")} END),
       b.status, b.out_of_use_reason
  FROM beds b JOIN homes h ON h.id = b.home_id
 WHERE h.status = 'open' OR {DAY.format("b.created_at")} < {DAY.format("h.updated_at")}
"""


def downgrade() -> None:
    op.execute("DROP TRIGGER tr_homes_bed_history ON homes")
    op.execute("DROP TRIGGER tr_beds_history_update ON beds")
    op.execute("DROP TRIGGER tr_beds_history_insert ON beds")
    for function in (
        "coop_home_status_written()",
        "coop_bed_written()",
        "coop_bed_state(text, text, date, text, text, boolean)",
    ):
        op.execute(f"DROP FUNCTION {function}")
    op.drop_index("ix_bookings_region_late_start", table_name="bookings")
    op.drop_index("ix_bookings_region_hold_during", table_name="bookings")
    op.drop_index("ix_bookings_region_created_at", table_name="bookings")
    op.drop_index(op.f("ix_bed_states_home_id"), table_name="bed_states")
    op.drop_table("bed_states")
    op.drop_constraint(op.f("ck_homes_postcode"), "homes", type_="check")
    op.drop_column("homes", "postcode")
