"""RFC 9457 problem details with a stable ``code``, for every error the API returns.

Services raise :class:`Problem` (or one of its short-hands); the handlers here turn it,
and every framework exception, into ``application/problem+json``. Nothing else builds
error bodies.
"""

from __future__ import annotations

import logging
import re
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


def invalid(field: str, detail: str, code: str = "validation_error") -> Problem:
    """A 422 that names the offending field (a JSON path like ``$.age_min``)."""
    path = field if field.startswith("$") else f"$.{field}"
    return Problem(
        422,
        code,
        detail,
        title="Validation error",
        field=path,
        errors=[{"field": path, "message": detail}],
    )


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


_AT_PATH = re.compile(r"^(?P<message>.*?) - at `(?P<path>[^`]+)`$")
_NAMED_FIELD = re.compile(r"(?:missing required field|unknown field) `(?P<name>[^`]+)`")
#: the name of the body parameter in every handler (Litestar reports body-level errors on it)
_BODY_PARAMETER = "data"


def _validation_problem(exc: ValidationException) -> Problem:
    """Litestar's 400 for a body or parameter it could not decode.

    A body that is not JSON at all stays a 400 (``malformed_body``); a well-formed body or
    parameter of the wrong shape becomes a 422 naming its field.
    """
    items = exc.extra if isinstance(exc.extra, list) else []
    text = " ".join(str(i.get("message", "")) for i in items if isinstance(i, dict))
    if not items or "malformed" in text.lower() or "json is malformed" in text.lower():
        return Problem(400, "malformed_body", "The request body is not valid JSON.")
    errors = []
    for item in items:
        message = str(item.get("message", ""))
        key = item.get("key")
        source = item.get("source")
        m = _AT_PATH.match(message)
        if m:
            errors.append({"field": m.group("path"), "message": m.group("message")})
        elif key == _BODY_PARAMETER and getattr(source, "value", source) in (None, "body"):
            named = _NAMED_FIELD.search(message)
            errors.append(
                {"field": f"$.{named.group('name')}" if named else "$", "message": message}
            )
        elif key:
            where = getattr(source, "value", source)
            field = "$." + key if where in (None, "body") else key
            entry = {"field": field, "message": message}
            if where not in (None, "body"):
                entry["in"] = where
            errors.append(entry)
        else:
            errors.append({"field": "$", "message": message})
    first = errors[0]
    return Problem(
        422,
        "validation_error",
        f"{first['message']} (at {first['field']})",
        title="Validation error",
        field=first["field"],
        errors=errors,
    )


def _from_http_exception(exc: HTTPException) -> Problem:
    if isinstance(exc, ValidationException):
        return _validation_problem(exc)
    if isinstance(exc, NotAuthorizedException):
        return Problem(
            401,
            "unauthenticated",
            exc.detail or "A valid bearer token is required.",
            headers={"WWW-Authenticate": 'Bearer realm="coop"'},
        )
    if isinstance(exc, PermissionDeniedException):
        return Problem(403, "forbidden", exc.detail or "Not allowed.")
    if isinstance(exc, NotFoundException):
        return Problem(404, "not_found", "No such resource.")
    if isinstance(exc, MethodNotAllowedException):
        return Problem(405, "method_not_allowed", exc.detail or "Method not allowed.")
    status = exc.status_code
    if status == 400:
        # Litestar's 400s come from a body it could not decode (truncated, not JSON, ...).
        return Problem(400, "malformed_body", f"The request body could not be read: {exc.detail}")
    return Problem(status, f"http_{status}", exc.detail or "Request failed.")


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
    log.exception("unhandled error on %s %s", request.method, request.url.path)
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
