"""The whole data model of coop, in one file to read.

SQLAlchemy Core tables (services build queries and return msgspec structs, never rows).
The database keeps the invariants; code only helps:

* every enumerated column has a CHECK listing the spec's codes;
* a bed cannot have two open voids over the same day (exclusion constraint, btree_gist);
* money is ``bigint`` pence; dates are ``date``; instants are ``timestamptz``.

Migrations live in ``migrations/`` and are written by hand from this file;
``tests/integration/test_migrations.py`` runs ``alembic check`` so the two never drift.
"""

from __future__ import annotations

from typing import get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, DATERANGE, JSONB, ExcludeConstraint

from coop.policy import lifecycle, vocabulary

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _created() -> Column:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def _updated() -> Column:
    return Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now())


# The code lists come from the policy's vocabulary, so the database and the API agree.
MEMBERSHIPS = get_args(vocabulary.Membership)
RATINGS = get_args(vocabulary.OfstedRating)
OPERATORS = get_args(vocabulary.Operator)
PURPOSES = get_args(vocabulary.Purpose)
HOME_GENDERS = get_args(vocabulary.HomeGender)
HOME_STATUSES = get_args(vocabulary.HomeStatus)
BED_STATUSES = get_args(vocabulary.BedStatus)
OUT_OF_USE_REASONS = get_args(vocabulary.OutOfUseReason)
VOID_STATUSES = ("open", "withdrawn")
BOOKING_STATUSES = get_args(lifecycle.Status)
URGENCIES = get_args(vocabulary.Urgency)

#: the days a booking holds its bed: offered and confirmed the planned period; active from
#: arrival to the planned end; ended its occupied days. No two may overlap on a bed.
HOLD_DURING = """CASE
  WHEN status IN ('offered', 'confirmed') THEN daterange(start_date, end_date, '[)')
  WHEN status = 'active'
    THEN daterange(COALESCE(actual_start_date, start_date), end_date, '[)')
  WHEN status = 'ended' AND actual_end_date > COALESCE(actual_start_date, start_date)
    THEN daterange(COALESCE(actual_start_date, start_date), actual_end_date, '[)')
END"""

# -- members -------------------------------------------------------------------------------

authorities = Table(
    "authorities",
    metadata,
    Column("slug", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("gss_code", Text, nullable=False, unique=True),
    Column("region", Text, nullable=False, index=True),
    Column("membership", Text, nullable=False),
    Column("version", Integer, nullable=False, server_default=text("1")),
    _created(),
    _updated(),
    CheckConstraint(_one_of("membership", MEMBERSHIPS), name="membership"),
    CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name="slug"),
    CheckConstraint("region ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name="region"),
)

api_clients = Table(
    "api_clients",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("authority", Text, ForeignKey("authorities.slug"), nullable=True, index=True),
    Column("region", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("created_by", Text, nullable=True),
    _created(),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

region_policies = Table(
    "region_policies",
    metadata,
    Column("region", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("effective_from", DateTime(timezone=True), nullable=False),
    Column("document", JSONB, nullable=False),
    Column("created_by", Text, nullable=True),
    _created(),
    PrimaryKeyConstraint("region", "version"),
)

# -- the market: homes, beds, voids ---------------------------------------------------------

homes = Table(
    "homes",
    metadata,
    Column("id", Text, primary_key=True),
    Column("owner", Text, ForeignKey("authorities.slug"), nullable=False, index=True),
    Column("region", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("ofsted_urn", Text, nullable=False, unique=True),
    Column("ofsted_rating", Text, nullable=False),
    Column("operator", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("district", Text, nullable=False),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("age_min", Integer, nullable=False),
    Column("age_max", Integer, nullable=False),
    Column("gender", Text, nullable=False),
    Column("needs_supported", ARRAY(Text), nullable=False, server_default="{}"),
    Column("risks_managed", ARRAY(Text), nullable=False, server_default="{}"),
    Column("accepts_dols", Boolean, nullable=False, server_default=text("false")),
    Column("weekly_cost_pence", BigInteger, nullable=False),
    # a UK postcode, upper case with one space (``CB2 1TN``); SSDA903's PL_POST
    Column("postcode", Text, nullable=True),
    Column("status", Text, nullable=False, server_default="open"),
    Column("version", Integer, nullable=False, server_default=text("1")),
    _created(),
    _updated(),
    CheckConstraint(_one_of("ofsted_rating", RATINGS), name="ofsted_rating"),
    CheckConstraint("length(postcode) BETWEEN 5 AND 8", name="postcode"),
    CheckConstraint(_one_of("operator", OPERATORS), name="operator"),
    CheckConstraint(_one_of("purpose", PURPOSES), name="purpose"),
    CheckConstraint(_one_of("gender", HOME_GENDERS), name="gender"),
    CheckConstraint(_one_of("status", HOME_STATUSES), name="status"),
    CheckConstraint("age_min >= 0 AND age_min <= age_max AND age_max <= 25", name="ages"),
    CheckConstraint("weekly_cost_pence >= 0", name="weekly_cost"),
    CheckConstraint("latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180", name="geo"),
    Index("ix_homes_region_status", "region", "status"),
)

beds = Table(
    "beds",
    metadata,
    Column("id", Text, primary_key=True),
    Column("home_id", Text, ForeignKey("homes.id"), nullable=False, index=True),
    Column("label", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="in_use"),
    Column("out_of_use_reason", Text, nullable=True),
    Column("version", Integer, nullable=False, server_default=text("1")),
    _created(),
    _updated(),
    UniqueConstraint("home_id", "label"),
    CheckConstraint(_one_of("status", BED_STATUSES), name="status"),
    CheckConstraint(
        "(status = 'in_use' AND out_of_use_reason IS NULL) OR "
        f"(status = 'out_of_use' AND {_one_of('out_of_use_reason', OUT_OF_USE_REASONS)})",
        name="out_of_use_reason",
    ),
)

#: A bed's history, kept by triggers (migration 0004) from the bed's and its home's own
#: timestamps: one row per span of days ``[from, to)`` in which the bed was registered (its
#: home open) with one status. A bed is registered from the day it was created; a change of
#: its status starts a new span on the day of the change (``updated_at``); closing its home
#: ends its span, reopening starts one. No two spans of a bed overlap. The capacity reports
#: read a bed's state on any day from here.
bed_states = Table(
    "bed_states",
    metadata,
    Column("bed_id", Text, ForeignKey("beds.id"), nullable=False),
    Column("home_id", Text, ForeignKey("homes.id"), nullable=False, index=True),
    Column("during", DATERANGE, nullable=False),
    Column("status", Text, nullable=False),
    Column("out_of_use_reason", Text, nullable=True),
    CheckConstraint(_one_of("status", BED_STATUSES), name="status"),
    CheckConstraint("NOT isempty(during)", name="during"),
    ExcludeConstraint(
        ("bed_id", "="),
        ("during", "&&"),
        using="gist",
        name="ex_bed_states_overlap",
    ),
)

voids = Table(
    "voids",
    metadata,
    Column("id", Text, primary_key=True),
    Column("bed_id", Text, ForeignKey("beds.id"), nullable=False, index=True),
    Column("home_id", Text, ForeignKey("homes.id"), nullable=False, index=True),
    Column("available_from", Date, nullable=False),
    Column("available_until", Date, nullable=True),
    Column("notes", Text, nullable=False, server_default=""),
    Column("status", Text, nullable=False, server_default="open"),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("home_priority_until", DateTime(timezone=True), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    Column("policy_version", Integer, nullable=False),
    CheckConstraint(_one_of("status", VOID_STATUSES), name="status"),
    CheckConstraint("available_until IS NULL OR available_until > available_from", name="period"),
    ExcludeConstraint(
        ("bed_id", "="),
        (text("daterange(available_from, available_until, '[)')"), "&&"),
        using="gist",
        where=text("status = 'open'"),
        name="ex_voids_open_overlap",
    ),
)


# -- bookings --------------------------------------------------------------------------------

bookings = Table(
    "bookings",
    metadata,
    Column("id", Text, primary_key=True),
    Column("requester", Text, ForeignKey("authorities.slug"), nullable=False),
    Column("owner", Text, ForeignKey("authorities.slug"), nullable=False),
    Column("region", Text, nullable=False),
    Column("void_id", Text, ForeignKey("voids.id"), nullable=True),
    Column("bed_id", Text, ForeignKey("beds.id"), nullable=False),
    Column("home_id", Text, ForeignKey("homes.id"), nullable=False),
    Column("child", JSONB, nullable=False),
    Column("urgency", Text, nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("max_weekly_price_pence", BigInteger, nullable=True),
    Column("status", Text, nullable=False),
    Column("status_reason", Text, nullable=True),
    Column("decide_at", DateTime(timezone=True), nullable=False),
    Column("offered_at", DateTime(timezone=True), nullable=True),
    Column("offer_expires_at", DateTime(timezone=True), nullable=True),
    Column("weekly_rate_pence", BigInteger, nullable=True),
    Column("price_breakdown", JSONB, nullable=True),
    Column("policy_version", Integer, nullable=False),
    Column("actual_start_date", Date, nullable=True),
    Column("actual_end_date", Date, nullable=True),
    Column("notice_date", Date, nullable=True),
    Column("cancelled_on", Date, nullable=True),
    Column("hold_during", DATERANGE, Computed(HOLD_DURING, persisted=True)),
    Column("version", Integer, nullable=False, server_default=text("1")),
    _created(),
    _updated(),
    CheckConstraint(_one_of("status", BOOKING_STATUSES), name="status"),
    CheckConstraint(_one_of("urgency", URGENCIES), name="urgency"),
    CheckConstraint("end_date > start_date", name="period"),
    CheckConstraint("max_weekly_price_pence IS NULL OR max_weekly_price_pence >= 0", name="budget"),
    CheckConstraint("weekly_rate_pence IS NULL OR weekly_rate_pence >= 0", name="rate"),
    CheckConstraint(
        "actual_end_date IS NULL OR actual_end_date >= COALESCE(actual_start_date, start_date)",
        name="actual_period",
    ),
    ExcludeConstraint(
        ("bed_id", "="),
        ("hold_during", "&&"),
        using="gist",
        where=text("hold_during IS NOT NULL"),
        name="ex_bookings_held_overlap",
    ),
    Index("ix_bookings_bed_id_status", "bed_id", "status"),
    # allocation reads a home's live bookings on every decision
    Index("ix_bookings_home_id_status", "home_id", "status"),
    Index("ix_bookings_requester_id", "requester", "id"),
    Index("ix_bookings_owner_id", "owner", "id"),
    Index(
        "ix_bookings_due",
        "decide_at",
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "ix_bookings_offer_expiry",
        "offer_expires_at",
        postgresql_where=text("status = 'offered'"),
    ),
    # the reports: a region's requests by when they were made (demand), and the days its
    # bookings hold beds (capacity over time, income)
    Index("ix_bookings_region_created_at", "region", "created_at"),
    Index("ix_bookings_region_hold_during", "region", "hold_during", postgresql_using="gist"),
    # capacity: the days a late arrival's bed waited for the child (few bookings)
    Index(
        "ix_bookings_region_late_start",
        "region",
        "start_date",
        postgresql_where=text("actual_start_date > start_date"),
    ),
)

booking_events = Table(
    "booking_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("booking_id", Text, ForeignKey("bookings.id"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    # ``client:<id>`` for an API client, ``system:<job>`` for the allocator and jobs
    Column("actor", Text, nullable=False),
    Column("actor_authority", Text, nullable=True),
    Column("from_status", Text, nullable=True),
    Column("to_status", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("detail", JSONB, nullable=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # whose key: the authority (or, for a region-level client, the client) that sent it
    Column("scope", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("status_code", Integer, nullable=False),
    # the response body exactly as it was sent (a replay returns the same bytes)
    Column("response", Text, nullable=False),
    _created(),
    PrimaryKeyConstraint("scope", "key"),
)


# -- settlement: runs, invoices, the ledger, payments -----------------------------------------
#
# The ledger's invariants live in the database (migration 0003): a deferred constraint
# trigger refuses, at commit, any journal entry whose postings do not sum to zero (or that
# has fewer than two); triggers refuse every UPDATE, DELETE and TRUNCATE of the ledger, the
# invoices and their lines, the payments, and a completed run's positions and transfers; a
# completed run itself can no longer change. Ordinary charge lines are unique per (booking,
# kind, month), every line per (run, booking, kind, month): a line is posted exactly once.

RUN_STATUSES = ("queued", "running", "completed", "failed")
CHARGE_KINDS = ("occupancy", "notice", "cancellation")
LINE_KINDS = (*CHARGE_KINDS, "adjustment")
ACCOUNT_KINDS = ("receivable", "payable", "cash")
ENTRY_KINDS = ("charge", "payment")

settlement_runs = Table(
    "settlement_runs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("region", Text, nullable=False),
    # the first day of the month settled
    Column("period", Date, nullable=False),
    Column("status", Text, nullable=False, server_default="queued"),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("requested_by", Text, nullable=True),
    _created(),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("issued_on", Date, nullable=True),
    Column("invoice_count", Integer, nullable=False, server_default=text("0")),
    Column("line_count", Integer, nullable=False, server_default=text("0")),
    Column("total_pence", BigInteger, nullable=False, server_default=text("0")),
    UniqueConstraint("region", "period"),
    CheckConstraint(_one_of("status", RUN_STATUSES), name="status"),
    CheckConstraint("EXTRACT(DAY FROM period) = 1", name="period"),
)

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("authority", Text, ForeignKey("authorities.slug"), nullable=False),
    Column("kind", Text, nullable=False),
    _created(),
    PrimaryKeyConstraint("authority", "kind"),
    CheckConstraint(_one_of("kind", ACCOUNT_KINDS), name="kind"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("region", Text, nullable=False),
    Column("kind", Text, nullable=False),
    # what the entry records, once: ``line:<run>:<booking>:<kind>:<month>``, ``payment:<id>``
    Column("key", Text, nullable=False, unique=True),
    Column("occurred_on", Date, nullable=False),
    Column("run_id", Text, ForeignKey("settlement_runs.id"), nullable=True, index=True),
    _created(),
    CheckConstraint(_one_of("kind", ENTRY_KINDS), name="kind"),
)

postings = Table(
    "postings",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=False, index=True),
    Column("authority", Text, nullable=False),
    Column("account", Text, nullable=False),
    # signed: debits positive, credits negative; an entry's postings sum to zero
    Column("amount_pence", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["authority", "account"],
        ["ledger_accounts.authority", "ledger_accounts.kind"],
        name="fk_postings_account_ledger_accounts",
    ),
    CheckConstraint("amount_pence <> 0", name="amount"),
    Index("ix_postings_authority_account", "authority", "account"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Text, primary_key=True),
    Column("run_id", Text, ForeignKey("settlement_runs.id"), nullable=False),
    Column("region", Text, nullable=False),
    Column("period", Date, nullable=False),
    Column("seller", Text, ForeignKey("authorities.slug"), nullable=False),
    Column("buyer", Text, ForeignKey("authorities.slug"), nullable=False),
    # sequential per region, in the order invoices were issued: ``EOE-2026-11-0007``
    Column("seq", Integer, nullable=False),
    Column("number", Text, nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("line_count", Integer, nullable=False),
    Column("total_pence", BigInteger, nullable=False),
    _created(),
    UniqueConstraint("run_id", "seller", "buyer"),
    UniqueConstraint("region", "seq"),
    UniqueConstraint("region", "number"),
    CheckConstraint("seller <> buyer", name="parties"),
    Index("ix_invoices_seller_id", "seller", "id"),
    Index("ix_invoices_buyer_id", "buyer", "id"),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("invoice_id", Text, ForeignKey("invoices.id"), nullable=False, index=True),
    Column("run_id", Text, ForeignKey("settlement_runs.id"), nullable=False),
    Column("booking_id", Text, ForeignKey("bookings.id"), nullable=False, index=True),
    Column("child_ref", Text, nullable=False),
    Column("kind", Text, nullable=False),
    # what the line charges for (an adjustment corrects one of these)
    Column("charge_kind", Text, nullable=False),
    # the first day of the month its days fall in
    Column("month", Date, nullable=False),
    Column("from_date", Date, nullable=False),
    Column("to_date", Date, nullable=False),
    Column("days", Integer, nullable=False),
    Column("weekly_rate_pence", BigInteger, nullable=False),
    Column("amount_pence", BigInteger, nullable=False),
    # the journal entry that posted it (none for a line of 0 pence)
    Column("entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=True, unique=True),
    UniqueConstraint("run_id", "booking_id", "charge_kind", "month"),
    CheckConstraint(_one_of("kind", LINE_KINDS), name="kind"),
    CheckConstraint(_one_of("charge_kind", CHARGE_KINDS), name="charge_kind"),
    CheckConstraint(
        "kind = 'adjustment' OR (kind = charge_kind AND days > 0 AND amount_pence >= 0)",
        name="ordinary",
    ),
    CheckConstraint("from_date < to_date", name="span"),
    # an ordinary line of a booking's month is posted once, by one run
    Index(
        "uq_invoice_lines_ordinary",
        "booking_id",
        "charge_kind",
        "month",
        unique=True,
        postgresql_where=text("kind <> 'adjustment'"),
    ),
)

settlement_positions = Table(
    "settlement_positions",
    metadata,
    Column("run_id", Text, ForeignKey("settlement_runs.id"), nullable=False),
    Column("authority", Text, ForeignKey("authorities.slug"), nullable=False),
    Column("receivable_pence", BigInteger, nullable=False),
    Column("payable_pence", BigInteger, nullable=False),
    Column("net_pence", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "authority"),
    CheckConstraint("net_pence = receivable_pence - payable_pence", name="net"),
)

settlement_transfers = Table(
    "settlement_transfers",
    metadata,
    Column("run_id", Text, ForeignKey("settlement_runs.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("payer", Text, ForeignKey("authorities.slug"), nullable=False),
    Column("payee", Text, ForeignKey("authorities.slug"), nullable=False),
    Column("amount_pence", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "seq"),
    CheckConstraint("amount_pence > 0 AND payer <> payee", name="transfer"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Text, primary_key=True),
    Column("region", Text, nullable=False),
    Column("payer", Text, ForeignKey("authorities.slug"), nullable=False, index=True),
    Column("payee", Text, ForeignKey("authorities.slug"), nullable=False, index=True),
    Column("amount_pence", BigInteger, nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("reference", Text, nullable=False),
    Column("entry_id", BigInteger, ForeignKey("journal_entries.id"), nullable=False, unique=True),
    Column("created_by", Text, nullable=True),
    _created(),
    CheckConstraint("amount_pence > 0 AND payer <> payee", name="payment"),
)

# -- audit -----------------------------------------------------------------------------------

#: what an audit event records (``coop.audit``): every client created or revoked, every
#: policy version, every other admin action
AUDIT_ACTIONS = (
    "client.created",
    "client.revoked",
    "authority.added",
    "authority.changed",
    "policy.versioned",
    "settlement_run.requested",
    "payment.recorded",
    "bookings.imported",
)

#: Who changed what, written in the transaction of the change (``coop.audit.record``).
#: ``details`` never holds a secret, a token or a child's data.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("region", Text, nullable=False),
    # the authority acted for or on; NULL for the region's own (a region-level client, the
    # policy, a settlement run)
    Column("authority", Text, nullable=True),
    # the API client's id, or ``cli`` for the command line
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("details", JSONB, nullable=True),
    CheckConstraint(_one_of("action", AUDIT_ACTIONS), name="action"),
    Index("ix_audit_events_region_at", "region", "at"),
    Index("ix_audit_events_authority_at", "authority", "at"),
)
