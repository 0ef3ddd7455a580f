"""Small HTTP helpers shared by controllers: ETags and If-Match."""

from __future__ import annotations

from litestar import Request
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
