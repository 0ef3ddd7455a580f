"""RFC 9457 problem details with a stable ``code``, for every error the API returns.

Services raise :class:`Problem` (or one of its short-hands); the handlers here turn it,
and every framework exception, into ``application/problem+json``. Nothing else builds
error bodies.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from coop.db.locks import Busy

log = logging.getLogger("coop.errors")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://coop.example/problems/"


class Problem(Exception):
    """An error a client can act on. ``code`` is stable; ``detail`` is for people."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or code.replace("_", " ").capitalize()
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


def not_found(what: str, ident: str) -> Problem:
    return Problem(404, "not_found", f"No {what} {ident!r} that you can see.", resource=what)


class FieldError(msgspec.Struct, frozen=True, omit_defaults=True):
    """One invalid field of a 422: its JSON (or parameter) name, a code, a sentence — and,
    in a body that is a list of rows (an import), the row it belongs to."""

    field: str
    code: str
    detail: str
    row: int | None = None
    """The row (1 = the first item of a list body) the field belongs to; left out when the
    body is not a list of rows."""


def field_problem(
    errors: Sequence[FieldError], code: str = "validation_error", *, detail: str | None = None
) -> Problem:
    """The one shape of every 422: ``errors`` lists each invalid field; ``detail`` sums them
    up unless given."""
    if detail is None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        where = first.field if first.row is None else f"row {first.row}, {first.field}"
        detail = f"{where}: {first.detail.rstrip('.')}{more}."
        rows = {e.row for e in errors if e.row is not None}
        if rows:  # a list of rows (an import) is refused whole
            detail = f"{len(rows)} row{'s are' if len(rows) > 1 else ' is'} invalid: {detail}"
    return Problem(
        422,
        code,
        detail,
        title="Validation error",
        errors=[_entry(e) for e in errors],
    )


def _entry(error: FieldError) -> dict[str, Any]:
    """An ``errors[]`` entry: ``{field, code, detail}``, led by ``row`` in a list of rows."""
    entry = msgspec.to_builtins(error)
    return entry if error.row is None else {"row": entry.pop("row"), **entry}


def invalid(field: str, detail: str, code: str = "validation_error") -> Problem:
    """A 422 about one field (its JSON name, e.g. ``age_min`` or ``child.age``).

    ``code`` is the problem's code; the field's own code is the same, or ``invalid`` for a
    plain ``validation_error``.
    """
    name = field.removeprefix("$").removeprefix(".")
    own = "invalid" if code == "validation_error" else code
    return field_problem([FieldError(name, own, detail)], code, detail=detail)


def conflict(code: str, detail: str, **extra: Any) -> Problem:
    return Problem(409, code, detail, **extra)


def busy_problem(exc: Busy) -> Problem:
    """A lock not had in time (``coop.db.locks``): retry shortly."""
    if exc.space == "idempotency":
        return Problem(
            409,
            "idempotency_key_in_use",
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            headers={"Retry-After": "1"},
        )
    return Problem(
        503,
        "busy",
        "Another request is changing the same thing; try again.",
        headers={"Retry-After": "1"},
    )


def problem_response(problem: Problem, request: Request | None = None) -> Response:
    return Response(
        content=problem.body(str(request.url.path) if request else None),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


#: Titles and codes of the HTTP errors Litestar raises itself (never "Http 413").
_HTTP_CODES: dict[int, tuple[str, str, str]] = {
    400: ("malformed_body", "Malformed body", "The request body could not be read."),
    405: ("method_not_allowed", "Method not allowed", "This path does not take that method."),
    413: ("body_too_large", "Body too large", "The request body is too large."),
    415: ("unsupported_media_type", "Unsupported media type", "Send the body as JSON."),
    429: ("too_many_requests", "Too many requests", "Slow down and retry later."),
}


def _validation_problem(exc: ValidationException) -> Problem:
    """Litestar's own parameter errors (the edge, ``coop.edge``, normally answers first)."""
    from coop.edge import translate  # the edge imports this module

    items = exc.extra if isinstance(exc.extra, list) else []
    errors = []
    for item in items:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key") or "")
        source = getattr(item.get("source"), "value", item.get("source"))
        message = str(item.get("message", ""))
        if source in (None, "body") and "malformed" in message.lower():
            return Problem(400, "malformed_body", "The request body is not valid JSON.")
        errors.append(translate(message, Any, key.removeprefix("data")))
    return field_problem(errors or [FieldError("body", "invalid", "is not valid.")])


def _from_http_exception(exc: HTTPException) -> Problem:
    if isinstance(exc, ValidationException):
        return _validation_problem(exc)
    if isinstance(exc, NotAuthorizedException):
        return Problem(
            401,
            "unauthenticated",
            "A valid bearer token is required.",
            headers={"WWW-Authenticate": 'Bearer realm="coop"'},
        )
    if isinstance(exc, PermissionDeniedException):
        return Problem(403, "forbidden", "Not allowed.")
    if isinstance(exc, NotFoundException):
        return Problem(404, "not_found", "No such resource.", title="Not found")
    status = exc.status_code
    if isinstance(exc, MethodNotAllowedException):
        status = 405
    code, title, detail = _HTTP_CODES.get(
        status, ("internal_error" if status >= 500 else "bad_request", "Error", "Request failed.")
    )
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
    return Problem(status, code, detail, title=title, headers=headers)


def handle_problem(request: Request, exc: Problem) -> Response:
    return problem_response(exc, request)


def handle_busy(request: Request, exc: Busy) -> Response:
    return problem_response(busy_problem(exc), request)


def handle_http_exception(request: Request, exc: HTTPException) -> Response:
    return problem_response(_from_http_exception(exc), request)


def handle_decode_error(request: Request, exc: msgspec.DecodeError) -> Response:
    return problem_response(
        Problem(400, "malformed_body", "The request body is not valid JSON."), request
    )


def handle_unexpected(request: Request, exc: Exception) -> Response:
    # Never log the request body: it may hold a child's profile or a client secret.
    # Nor the concrete path: it holds ids, and a %0A in it could forge a log line. The route
    # template says where; the request id (coop.logs) finds the request's own line.
    from coop.logs import route_of

    log.exception("unhandled error on %s %s", request.method, route_of(request.scope))
    return Response(
        content=Problem(
            HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side."
        ).body(str(request.url.path)),
        status_code=500,
        media_type=PROBLEM_JSON,
    )


EXCEPTION_HANDLERS = {
    Problem: handle_problem,
    Busy: handle_busy,
    HTTPException: handle_http_exception,
    msgspec.DecodeError: handle_decode_error,
    Exception: handle_unexpected,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "Problem"]
