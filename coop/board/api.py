"""``/board``: the regional board's web page, for people with a browser.

Server-rendered HTML (Jinja2), charts drawn on the server (pygal), no script. A person signs
in with a ``reports:read`` client's id and secret (:mod:`coop.board.sessions`); the page shows
the same figures as ``/reports/*`` for that client — an authority's client its own rows and
the region's totals — and links every figure to its CSV.

These routes are not part of the API's OpenAPI document: they answer HTML to people, not
JSON to programs. They check the session before anything else, and the region asked for
next (another region is a 403 page, as in the API).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from coop.auth import clients
from coop.auth.guards import PUBLIC_OPT
from coop.auth.principal import Principal
from coop.board import sessions
from coop.board.figures import (
    STATES,
    Dates,
    gather,
    month_label,
    pct,
    pounds,
    region_name,
    whole_pounds,
)
from coop.clock import local_date
from coop.errors import Problem
from coop.http import CoopDep, csv_response
from coop.reports import capacity, demand, income
from coop.reports.scope import check_range, report_view

TEMPLATES = Path(__file__).parent / "templates"
SIGN_IN = "/board/sign-in"
#: what a page of the board may load: itself, its inline styles and its data: images
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
#: client ids and secrets are far shorter; a longer value is refused unread
MAX_FIELD = 200
BOARD_OPT = {PUBLIC_OPT: True}  # the board checks its own cookie, not a bearer token
CSV_HEADERS = {k: v for k, v in HEADERS.items() if k != "Content-Security-Policy"}
CSV_REPORTS = ("capacity", "capacity-series", "own-series", "income", "demand")


def template_config() -> TemplateConfig:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pounds=pounds, whole_pounds=whole_pounds, pct=pct, month=month_label, region=region_name
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


class BadInput(Exception):
    """A picker's value the page cannot use: shown on the page, nothing else happens."""


def _secure(request: Request) -> bool:
    """Served over HTTPS: directly, behind a proxy that says so, or at an https address."""
    coop = request.app.state.coop
    return (
        request.url.scheme == "https"
        or request.headers.get("x-forwarded-proto") == "https"
        or coop.settings.effective_issuer.startswith("https://")
    )


def _cross_site(request: Request) -> bool:
    """A form posted from another site (the browser says so): refused before anything."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin == "null"
    return origin.rstrip("/") != str(request.base_url).rstrip("/")


def _cookie(request: Request, key: str, value: str, max_age: int, path: str) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def _page(
    request: Request, name: str, context: dict[str, Any], status: int = 200, **kw: Any
) -> Template:
    return Template(
        name,
        context={"secure": _secure(request), **context},
        status_code=status,
        headers=HEADERS,
        media_type="text/html",
        **kw,
    )


def _day(raw: str | None, name: str, default: date) -> date:
    if raw is None or raw == "":
        return default
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadInput(f"The {name} date must be a day like 2026-04-30.") from None
    if not date(2000, 1, 1) <= day <= date(2100, 12, 31):
        raise BadInput(f"The {name} date must be between 2000 and 2100.")
    return day


def dates_from(request: Request, today: date) -> Dates:
    """The pickers' dates, or the defaults (capacity today; the last twelve whole months)."""
    q = request.query_params
    default = Dates.default(today)
    on = _day(q.get("on"), "capacity", default.on)
    if "from" not in q and "to" not in q and "on" in q:
        default = Dates.default(on)
    start = _day(q.get("from"), "first", default.start)
    end = _day(q.get("to"), "end", default.end)
    try:
        check_range(start, end)
    except Problem as exc:
        raise BadInput(
            "The period must end after it starts and cover at most ten years."
            if exc.code != "range_too_long"
            else exc.detail
        ) from None
    return Dates(on=on, start=start, end=end)


async def _session(request: Request, coop: Any) -> sessions.BoardSession | None:
    """The signed-in session, if its client is still active (a revoked one ends it)."""
    if coop.redis is None:
        return None
    session = await sessions.load(coop.redis, request.cookies.get(sessions.SESSION_COOKIE))
    if session is None:
        return None
    async with coop.engine.connect() as conn:
        if not await clients.is_active(conn, session.client_id):
            await sessions.end(coop.redis, request.cookies.get(sessions.SESSION_COOKIE))
            return None
    return session


def _to_sign_in() -> Redirect:
    return Redirect(SIGN_IN, status_code=303, headers=HEADERS)


def _region(request: Request, who: Principal) -> str:
    """The region picked: the caller's own (another is a 403, as in the API)."""
    region = request.query_params.get("region") or who.region
    report_view(who, region)  # raises 403 other_region
    return region


class BoardController(Controller):
    path = "/board"
    include_in_schema = False
    opt = BOARD_OPT

    @get("/")
    async def board(self, request: Request, coop: CoopDep) -> Response | Template:
        session = await _session(request, coop)
        if session is None:
            return _to_sign_in()
        who = session.principal()
        context: dict[str, Any] = {"session": session, "states": STATES, "error": None}
        try:
            region = _region(request, who)
            dates = dates_from(request, local_date(coop.clock.now()))
        except Problem as exc:
            return _page(request, "error.html", {**context, "problem": exc}, exc.status)
        except BadInput as exc:
            context["error"] = str(exc)
            dates = Dates.default(local_date(coop.clock.now()))
            region = who.region
        b = await gather(coop.engine, report_view(who, region), dates)
        query = dates.query(region)
        return _page(
            request,
            "board.html",
            {
                **context,
                "b": b,
                "query": query,
                "regions": [who.region],
            },
            status=422 if context["error"] else 200,
        )

    @get("/csv/{report:str}")
    async def csv(
        self, request: Request, coop: CoopDep, report: FromPath[str]
    ) -> Response | Template:
        """One report as CSV, for the signed-in person: what ``Accept: text/csv`` gives."""
        session = await _session(request, coop)
        if session is None:
            return _to_sign_in()
        who = session.principal()
        try:
            if report not in CSV_REPORTS:
                raise Problem(404, "not_found", "No such report.")
            view = report_view(who, _region(request, who))
            dates = dates_from(request, local_date(coop.clock.now()))
        except Problem as exc:
            return _page(request, "error.html", {"session": session, "problem": exc}, exc.status)
        except BadInput as exc:
            problem = Problem(422, "validation_error", str(exc))
            return _page(request, "error.html", {"session": session, "problem": problem}, 422)
        if report == "capacity":
            rows = capacity.capacity_csv(await capacity.capacity_on(coop.engine, view, dates.on))
        elif report in ("capacity-series", "own-series"):
            start, end = dates.series
            own = view.authority if report == "own-series" else None
            series = await capacity.capacity_series(coop.engine, view, start, end, "month", own)
            rows = capacity.series_csv(series)
        elif report == "income":
            rows = income.income_csv(
                await income.income_report(coop.engine, view, dates.start, dates.end)
            )
        else:
            rows = demand.demand_csv(
                await demand.demand_report(coop.engine, view, dates.start, dates.end)
            )
        response = csv_response(*rows)
        response.headers.update(
            {k: v for k, v in HEADERS.items() if k != "Content-Security-Policy"}
        )
        return response

    @get("/sign-in")
    async def sign_in_form(self, request: Request, coop: CoopDep) -> Template:
        """The form; a person already signed in may sign in as another client (which ends
        the session they have)."""
        return self._sign_in(request, signed_in=await _session(request, coop))

    def _sign_in(
        self,
        request: Request,
        error: str | None = None,
        status: int = 200,
        signed_in: sessions.BoardSession | None = None,
    ) -> Template:
        csrf = sessions.new_token()
        return _page(
            request,
            "sign_in.html",
            {"csrf": csrf, "error": error, "session": None, "signed_in": signed_in},
            status,
            cookies=[
                _cookie(request, sessions.SIGN_IN_COOKIE, csrf, sessions.SIGN_IN_SECONDS, SIGN_IN)
            ],
        )

    @post("/sign-in", status_code=303)
    async def sign_in(self, request: Request, coop: CoopDep) -> Response | Template:
        form = await _form(request)
        if _cross_site(request) or not sessions.same(
            form.get("csrf_token"), request.cookies.get(sessions.SIGN_IN_COOKIE)
        ):
            return self._sign_in(
                request, "The sign-in form had expired. Please try again.", status=403
            )
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not secret:
            return self._sign_in(request, "Enter the client id and the secret.", status=422)
        client = await clients.authenticate(
            coop.engine, client_id, secret, scrypt_n=coop.settings.scrypt_n
        )
        if client is None:
            return self._sign_in(request, "That client id and secret do not match.", status=401)
        if "reports:read" not in client.scopes:
            return self._sign_in(
                request,
                "This client cannot read reports: sign in with a reports:read client.",
                status=403,
            )
        if coop.redis is None:  # pragma: no cover - the service always runs with Redis
            return self._sign_in(request, "Sign-in is unavailable: no Redis.", status=503)
        who = Principal(
            client_id=client.client_id,
            region=client.region,
            authority=client.authority,
            scopes=frozenset(client.scopes),
        )
        # a new session id at every sign-in; the one the browser held (if any) ends
        await sessions.end(coop.redis, request.cookies.get(sessions.SESSION_COOKIE))
        session_id, _session_data = await sessions.create(coop.redis, who)
        return Redirect(
            "/board",
            status_code=303,
            headers=HEADERS,
            cookies=[
                _cookie(
                    request, sessions.SESSION_COOKIE, session_id, sessions.SESSION_SECONDS, "/"
                ),
                Cookie(key=sessions.SIGN_IN_COOKIE, value="", max_age=0, path=SIGN_IN),
            ],
        )

    @post("/sign-out", status_code=303)
    async def sign_out(self, request: Request, coop: CoopDep) -> Response | Template:
        form = await _form(request)
        cookie = request.cookies.get(sessions.SESSION_COOKIE)
        session = await sessions.load(coop.redis, cookie) if coop.redis is not None else None
        if session is None:  # nothing to end: change nothing
            return _to_sign_in()
        if _cross_site(request) or not sessions.same(form.get("csrf_token"), session.csrf):
            problem = Problem(403, "csrf_failed", "The form was not this page's: not signed out.")
            return _page(request, "error.html", {"session": session, "problem": problem}, 403)
        await sessions.end(coop.redis, cookie)
        return Redirect(
            SIGN_IN,
            status_code=303,
            headers=HEADERS,
            cookies=[Cookie(key=sessions.SESSION_COOKIE, value="", max_age=0, path="/")],
        )


async def _form(request: Request) -> dict[str, str]:
    """The posted form's short text fields; anything else is dropped."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {}
    try:
        form = await request.form()
    except Exception:  # a broken body is the sender's: treat it as an empty form
        return {}
    return {
        k: v
        for k, v in form.items()
        if isinstance(v, str) and len(v) <= MAX_FIELD and "\x00" not in v
    }
