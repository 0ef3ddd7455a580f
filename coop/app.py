"""``create_app(settings)``: every plugin, route, guard and error handler, assembled once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import msgspec
import sqlalchemy as sa
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.static_files import create_static_files_router

from coop.auth.api import ClientController, jwks, token
from coop.auth.guards import PUBLIC_OPT, BearerAuth, requires
from coop.auth.keys import KeyRing
from coop.auth.principal import Principal
from coop.auth.tokens import Tokens
from coop.board.api import BoardController, template_config
from coop.bookings.api import BookingController
from coop.clock import Clock
from coop.context import Coop
from coop.db.session import create_engine
from coop.edge import MAX_BODY_BYTES, check_request
from coop.errors import EXCEPTION_HANDLERS
from coop.http import CoopDep
from coop.idempotency import Replay, handle_replay
from coop.ids import new_id
from coop.logs import install as install_request_log
from coop.market.api import BedController, HomeController, VoidController
from coop.members.api import AuthorityController, PolicyController
from coop.metrics import metrics_token_guard
from coop.openapi import finish
from coop.openapi_links import LINKS
from coop.reports.api import ExportController, ReportController
from coop.settings import Settings
from coop.settlement.api import (
    InvoiceController,
    PaymentController,
    SettlementRunController,
    StatementController,
)

log = logging.getLogger("coop")

DESCRIPTION = """\
The regional children's homes cooperative: member councils publish the empty beds (voids)
in their homes, request each other's beds under one shared pricing and priority policy,
and settle the charges between them.

Authenticate with OAuth 2.0 client credentials at `POST /oauth/token`, then send
`Authorization: Bearer <token>`. Errors are RFC 9457 problem details
(`application/problem+json`) with a stable `code`. Money is integer pence; dates are
`YYYY-MM-DD`; periods are half-open `[start, end)`.
"""


async def provide_coop(state: State) -> Coop:
    return state.coop


async def provide_principal(request: Request) -> Principal:
    return request.user


class Health(msgspec.Struct):
    """The process is up."""

    status: Literal["ok"]


class Readiness(msgspec.Struct):
    """Whether the service can serve: each dependency's state."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


@get(
    "/health",
    opt={PUBLIC_OPT: True},
    tags=["operations"],
    operation_id="getHealth",
    summary="Liveness",
    description="200 while the process serves requests; it checks nothing else.",
)
async def health() -> Health:
    return Health(status="ok")


@get(
    "/ready",
    opt={PUBLIC_OPT: True},
    tags=["operations"],
    operation_id="getReadiness",
    summary="Readiness: the database and Redis answer",
    description="200 when PostgreSQL and Redis both answer; 503 (with which failed) if not.",
    responses={
        503: ResponseSpec(
            data_container=Readiness,
            description="The database or Redis does not answer.",
        )
    },
)
async def ready(coop: CoopDep) -> Response[Readiness]:
    checks: dict[str, str] = {}
    try:
        async with coop.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        if coop.redis is None:
            raise RuntimeError("not connected")
        await coop.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    body = Readiness(status="ok" if ok else "unavailable", checks=checks)
    if ok:
        return Response(body)
    return Response(body, status_code=503)


#: Swagger UI's files, served from the package (swagger-ui-py): /schema works offline.
ASSETS = "/schema/assets"


def swagger_ui_assets() -> Path:
    import swagger_ui

    return Path(swagger_ui.__file__).parent / "static"


BENCH_TABLE = (
    "CREATE UNLOGGED TABLE IF NOT EXISTS bench_pings (id text PRIMARY KEY, at timestamptz)"
)


@post("/_bench/insert", include_in_schema=False, guards=[requires("market:read")])
async def bench_insert(coop: CoopDep) -> dict[str, str]:
    """The ceiling for ``coop bench``: authenticated, one INSERT, nothing else."""
    ping = new_id("png")
    async with coop.engine.begin() as conn:
        await conn.execute(
            sa.text("INSERT INTO bench_pings (id, at) VALUES (:id, now())"), {"id": ping}
        )
    return {"id": ping}


class Metrics(PrometheusController):
    """The Prometheus exposition (``coop.metrics`` names coop's own figures): outside the
    OAuth middleware, behind the metrics token instead."""

    path = "/metrics"
    opt = {PUBLIC_OPT: True}
    include_in_schema = False
    guards = [metrics_token_guard]


def create_app(settings: Settings, *, clock: Clock | None = None) -> Litestar:
    """The ASGI app. Its lifespan opens the database pool, the key ring and the Redis pool."""
    clock = clock or Clock()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from arq import create_pool

        from coop.worker import redis_settings

        engine = create_engine(settings)
        keyring = KeyRing.from_settings(settings)
        coop = Coop(
            settings=settings,
            clock=clock,
            engine=engine,
            keyring=keyring,
            tokens=Tokens(settings, keyring, clock),
        )
        if settings.redis_url:
            coop.redis = await create_pool(redis_settings(settings.redis_url))
        app.state.coop = coop
        if settings.bench:
            async with engine.begin() as conn:
                await conn.execute(sa.text(BENCH_TABLE))
        try:
            yield
        finally:
            if coop.redis is not None:
                await coop.redis.aclose()
            await engine.dispose()

    prometheus = PrometheusConfig(
        app_name="coop", prefix="coop", group_path=True, exclude=["^/metrics", "^/schema"]
    )
    app = Litestar(
        route_handlers=[
            *([bench_insert] if settings.bench else []),
            token,
            jwks,
            health,
            ready,
            Metrics,
            ClientController,
            AuthorityController,
            PolicyController,
            HomeController,
            BedController,
            VoidController,
            BookingController,
            SettlementRunController,
            InvoiceController,
            ReportController,
            ExportController,
            BoardController,
            PaymentController,
            StatementController,
            create_static_files_router(
                path=ASSETS,
                directories=[swagger_ui_assets()],
                include_in_schema=False,
                opt={PUBLIC_OPT: True},
            ),
        ],
        dependencies={
            "coop": Provide(provide_coop),
            "principal": Provide(provide_principal),
        },
        middleware=[
            prometheus.middleware,
            DefineMiddleware(
                BearerAuth, exclude=["^/schema", "^/metrics"], exclude_from_auth_key=PUBLIC_OPT
            ),
        ],
        exception_handlers={**EXCEPTION_HANDLERS, Replay: handle_replay},
        before_request=check_request,
        request_max_body_size=MAX_BODY_BYTES,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="coop",
            version="0.1.0",
            description=DESCRIPTION,
            path="/schema",
            render_plugins=[
                SwaggerRenderPlugin(
                    path="/",
                    js_url=f"{ASSETS}/swagger-ui-bundle.js",
                    css_url=f"{ASSETS}/swagger-ui.css",
                    standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
                )
            ],
        ),
        template_config=template_config(),
        debug=False,
        logging_config=None,  # the CLI configures logging once (COOP_LOG_LEVEL)
    )
    finish(app, LINKS)
    install_request_log(app)  # outermost: sees 404s and 401s (coop.logs)
    return app


def create_app_from_env() -> Litestar:
    """The app of one of ``coop serve --workers N``'s processes (uvicorn's factory,
    ``coop.app:create_app_from_env``): its settings from the ``COOP_*`` variables the parent
    set (the database, Redis, issuer and data directory it resolved), its logging as the CLI's."""
    from coop.logs import configure
    from coop.settings import load_settings

    settings = load_settings()
    configure(settings)
    return create_app(settings)
