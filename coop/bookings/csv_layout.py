"""The CSV layout of ``coop import-placements FILE.csv`` (the CSV twin of
``POST /bookings/import``), kept apart so the command's help costs no import of the service.

The fields are an import row's (``coop.bookings.schemas.ImportRow``), the child's flattened
into ``child_*`` columns; ``coop.bookings.imports.rows_from_csv`` reads them.
"""

from __future__ import annotations

#: the columns of ``coop import-placements FILE.csv``, in the documented order
CSV_COLUMNS = (
    "requester",
    "bed_id",
    "child_ref",
    "child_age",
    "child_gender",
    "child_needs",
    "child_risks_to_self",
    "child_risks_to_others",
    "child_dols",
    "child_care_alongside",
    "start_date",
    "end_date",
    "actual_end_date",
    "notice_date",
    "weekly_rate_pence",
    "status",
)
#: columns a file may add
CSV_OPTIONAL = ("child_home_latitude", "child_home_longitude")
#: cells that hold a list, its items separated by ``;``
CSV_LISTS = frozenset({"child_needs", "child_risks_to_self", "child_risks_to_others"})
CSV_HELP = f"""The CSV layout (UTF-8, comma-separated, a header row naming the columns, in any
order): {", ".join(CSV_COLUMNS)}; optionally {" and ".join(CSV_OPTIONAL)}. One placement a
line after the header: row 1 is the first line after it. An empty cell is absent (an empty
list; dols false; care_alongside no_preference); child_needs, child_risks_to_self and
child_risks_to_others list codes separated by ";"; child_dols is true or false; dates are
YYYY-MM-DD; weekly_rate_pence is whole pence; status is active or ended."""
