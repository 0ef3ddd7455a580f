"""Small HTTP helpers shared by controllers: ETags and If-Match."""

from __future__ import annotations

import csv
import io

from litestar import Request, Response
from litestar.di import NamedDependency

from coop.auth.principal import Principal
from coop.context import Coop
from coop.errors import invalid


def etag(version: int) -> str:
    return f'"{version}"'


def if_match(request: Request) -> int | None:
    """The version an ``If-Match: "<version>"`` header names, if one was sent."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise invalid(
            "If-Match", 'must be an ETag this service gave out, like "3".', "validation_error"
        )
    return int(value)


# Explicit dependency markers (Litestar 3 drops inferred ones).
CoopDep = NamedDependency[Coop]
"""Everything a request needs (engine, clock, tokens...)."""
Caller = NamedDependency[Principal]
"""The authenticated principal of the request."""


CSV = "text/csv"


def wants_csv(request: Request) -> bool:
    """``Accept: text/csv`` preferred to JSON."""
    return request.accept.best_match(["application/json", CSV], default="application/json") == CSV


#: what makes a spreadsheet read a cell as a formula (OWASP "CSV injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A text cell a spreadsheet could run as a formula is quoted with a leading ``'`` (a
    council chooses its own child ``ref``, and another council opens the invoice); numbers
    stay numbers, negative pence included."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_response(header: list[str], rows: list[list[object]], filename: str) -> Response:
    """A CSV document: a header row, then ``rows`` (integers as they are: pence, days)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return Response(
        content=out.getvalue(),
        media_type=CSV,  # Litestar adds "; charset=utf-8" to a text type
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
