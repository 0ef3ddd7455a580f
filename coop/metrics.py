"""coop's own Prometheus metrics, and who may read them.

Every metric is named ``coop_…`` and none carries a label that names a tenant: no region,
authority, home, bed, client or child. Label values come from the small fixed sets below
(``OUTCOMES``, ``DECISIONS``, ``JOB_KINDS``, ``RUN_OUTCOMES``), so a scrape reveals how the
cooperative as a whole is doing, never what one council did.

The counters and histograms work in prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``) as they are; a gauge would need a ``multiprocess_mode``.

The worker has no HTTP server: ``coop worker`` serves its own figures (job lag, deferred
decisions, settlement runs) on ``COOP_WORKER_METRICS_PORT`` (:func:`serve_worker_metrics`),
behind the same token as the API's ``/metrics``.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from prometheus_client import REGISTRY, Counter, Histogram, make_wsgi_app

from coop.errors import Problem

log = logging.getLogger("coop.metrics")

#: What a booking's move (or a new request) comes to: the booking state machine's moves
#: (``coop.policy.lifecycle``) in the past tense, ``requested`` for every new request and
#: ``waiting`` for one left ``pending`` when it was made (decided later, at ``decide_at``).
MOVE_OUTCOMES = {
    "offer": "offered",
    "decline": "declined",
    "expire": "expired",
    "withdraw": "withdrawn",
    "accept": "accepted",
    "reject": "rejected",
    "expire_offer": "offer_expired",
    "cancel": "cancelled",
    "start": "started",
    "end": "ended",
}
OUTCOMES = ("requested", "waiting", *MOVE_OUTCOMES.values())
#: a request's first decision: the moves out of ``pending`` the allocator makes
DECISIONS = {"offer": "offered", "decline": "declined", "expire": "expired"}
#: the worker's job functions (``coop.worker``)
JOB_KINDS = (
    "allocate_bed",
    "expire_offer",
    "sweep",
    "settle_run_job",
    "sweep_runs",
    "monthly_settlement",
    "heartbeat",
)
RUN_OUTCOMES = ("completed", "failed", "busy")

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0

BOOKING_OUTCOMES = Counter(
    "coop_booking_outcomes",
    "Booking requests and moves, by what they came to (committed only).",
    ["outcome"],
)
ALLOCATION_LATENCY = Histogram(
    "coop_allocation_latency_seconds",
    "From a request's submission to its first decision (offered, declined or expired), "
    "observed when the decision commits: 0 for one decided at once, up to the home window "
    "for a deferred one.",
    ["decision"],
    buckets=(
        0.1,
        1,
        10,
        MINUTE,
        10 * MINUTE,
        HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY,
        2 * DAY,
        3 * DAY,
        7 * DAY,
    ),
)
JOB_LAG = Histogram(
    "coop_job_lag_seconds",
    "How late a worker job started against the time it was due.",
    ["job"],
    buckets=(0.05, 0.25, 1, 2.5, 5, 15, 30, MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR),
)
SETTLEMENT_DURATION = Histogram(
    "coop_settlement_run_duration_seconds",
    "How long an attempt to carry out a settlement run took, by its outcome.",
    ["outcome"],
    buckets=(0.05, 0.25, 1, 2.5, 5, 10, 30, MINUTE, 2 * MINUTE, 5 * MINUTE, 15 * MINUTE),
)

# Every label value exists from the start (0 until something happens): a rate() over a
# missing series is empty, over a zero one is 0.
for _o in OUTCOMES:
    BOOKING_OUTCOMES.labels(_o)
for _d in DECISIONS.values():
    ALLOCATION_LATENCY.labels(_d)
for _j in JOB_KINDS:
    JOB_LAG.labels(_j)
for _r in RUN_OUTCOMES:
    SETTLEMENT_DURATION.labels(_r)


# -- the hooks ------------------------------------------------------------------------------


def booking_requested(status: str) -> None:
    """A new request committed; ``status`` is what it was left at (``pending``: waiting)."""
    BOOKING_OUTCOMES.labels("requested").inc()
    if status == "pending":
        BOOKING_OUTCOMES.labels("waiting").inc()


def booking_moves(moves: Iterable[tuple[str, str, datetime, datetime]]) -> None:
    """Committed moves: ``(move, from_status, created_at, at)`` each."""
    for move, from_status, created_at, at in moves:
        outcome = MOVE_OUTCOMES.get(move)
        if outcome is None:  # pragma: no cover - a move the state machine does not have
            continue
        BOOKING_OUTCOMES.labels(outcome).inc()
        if from_status == "pending" and move in DECISIONS:
            seconds = max((at - created_at).total_seconds(), 0.0)
            ALLOCATION_LATENCY.labels(DECISIONS[move]).observe(seconds)


def job_started(kind: str, ctx: dict[str, Any]) -> None:
    """Observe how late a job started: the clock's now minus the time it was due (arq's
    ``score``, milliseconds since the epoch). A job called without one observes nothing."""
    score = ctx.get("score")
    if kind not in JOB_KINDS or not isinstance(score, int | float):
        return
    due = datetime.fromtimestamp(score / 1000, UTC)
    JOB_LAG.labels(kind).observe(max((ctx["clock"].now() - due).total_seconds(), 0.0))


def settlement_attempt(outcome: str, seconds: float) -> None:
    if outcome in RUN_OUTCOMES:
        SETTLEMENT_DURATION.labels(outcome).observe(max(seconds, 0.0))


# -- who may read them ------------------------------------------------------------------------


def token_ok(expected: str | None, authorization: str | None) -> bool:
    """Whether ``Authorization`` carries the metrics token (always, when none is set).
    Compared in constant time; only the metrics token opens the metrics."""
    if not expected:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.strip().encode())


UNAUTHORIZED_BODY = (
    b'{"type":"https://coop.example/problems/metrics_token_required",'
    b'"title":"Unauthenticated","status":401,'
    b'"detail":"Send the metrics token: Authorization: Bearer $COOP_METRICS_TOKEN.",'
    b'"code":"metrics_token_required","instance":"/metrics"}'
)


def metrics_token_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """The guard of the API's ``/metrics``: ``Authorization: Bearer $COOP_METRICS_TOKEN``
    when that is set; an OAuth access token does not open it. Unset: open."""
    expected = connection.app.state.coop.settings.metrics_token
    if not token_ok(expected, connection.headers.get("authorization")):
        raise Problem(
            401,
            "metrics_token_required",
            "Send the metrics token: Authorization: Bearer $COOP_METRICS_TOKEN.",
            title="Unauthenticated",
            headers={"WWW-Authenticate": 'Bearer realm="coop-metrics"'},
        )


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def worker_metrics_app(token: str | None, registry: Any = REGISTRY) -> Any:
    """The WSGI app of the worker's metrics port: the exposition, behind the token."""
    exposition = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if not token_ok(token, environ.get("HTTP_AUTHORIZATION")):
            start_response(
                "401 Unauthorized",
                [
                    ("Content-Type", "application/problem+json"),
                    ("WWW-Authenticate", 'Bearer realm="coop-metrics"'),
                    ("Content-Length", str(len(UNAUTHORIZED_BODY))),
                ],
            )
            return [UNAUTHORIZED_BODY]
        return exposition(environ, start_response)

    return app


def serve_worker_metrics(host: str, port: int, token: str | None) -> WSGIServer:
    """Serve the worker's metrics on ``host:port`` from a daemon thread; returns the server
    (``shutdown()`` stops it)."""
    server = make_server(host, port, worker_metrics_app(token), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="coop-metrics", daemon=True)
    thread.start()
    log.info("worker metrics on http://%s:%d/metrics", host, server.server_port)
    return server
