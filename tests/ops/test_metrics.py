"""``/metrics``: the metrics token, coop's own figures (booking outcomes, allocation latency,
job lag, settlement durations), no label that names a tenant, and the worker's metrics port."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from coop.app import create_app
from coop.bookings.jobs import allocate_bed
from coop.metrics import serve_worker_metrics, worker_metrics_app
from coop.policy.charges import month_start, period_of
from coop.settlement.jobs import settle_run_job
from tests.api.test_bookings_policy import ask, book
from tests.support import Lifespan, assert_problem

TOKEN = "metrics-token-for-tests-0123456789"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
async def guarded(settings: Any, session_clock: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with ``COOP_METRICS_TOKEN`` set (the same process: the same metrics)."""
    application = create_app(settings.replace(metrics_token=TOKEN), clock=session_clock)
    async with Lifespan(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://coop.test") as client:
            yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def scrape(client: httpx.AsyncClient) -> tuple[str, Samples]:
    r = await client.get("/metrics", headers=bearer(TOKEN))
    assert r.status_code == 200, r.text
    samples: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return r.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def ms(when: Any) -> int:
    return int(when.timestamp() * 1000)


# -- who may read them ----------------------------------------------------------------------


async def test_metrics_want_the_metrics_token_when_it_is_set(guarded, region):
    for headers in ({}, bearer("wrong"), bearer(TOKEN + "x"), {"Authorization": TOKEN}):
        r = await guarded.get("/metrics", headers=headers)
        assert_problem(r, 401, "metrics_token_required")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "coop_" not in r.text
    # an OAuth access token, even the region admin's, is not the metrics token
    assert_problem(
        await guarded.get("/metrics", headers=region.admin.h), 401, "metrics_token_required"
    )
    r = await guarded.get("/metrics", headers=bearer(TOKEN))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "coop_booking_outcomes_total" in r.text


async def test_without_a_token_set_metrics_stay_open(http):
    r = await http.get("/metrics")
    assert r.status_code == 200
    assert "coop_job_lag_seconds" in r.text


# -- what they show --------------------------------------------------------------------------


async def test_a_booking_flow_moves_the_counters_and_no_label_names_a_tenant(
    http, guarded, region, coop, clock
):
    _, before = await scrape(guarded)
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    now_home, later_home = await region.home(owner), await region.home(owner)
    now_bed, later_bed = now_home["beds"][0]["id"], later_home["beds"][0]["id"]
    now_void = await region.void(owner, now_bed)
    later_void = await region.void(owner, later_bed)

    tonight = await book(http, buyer, ask(region, void=now_void, urgency="today"))
    assert tonight["status"] == "offered"  # decided at once
    r = await http.post(f"/bookings/{tonight['id']}/accept", headers=owner.h)
    assert r.status_code == 200, r.text
    planned = await book(http, buyer, ask(region, void=later_void, start=10))
    assert planned["status"] == "pending"  # waits out the home window

    # the worker's deferred allocation, called as the worker would, 90 s late
    clock.advance(hours=49)
    ctx = {
        "engine": coop.engine,
        "clock": coop.clock,
        "redis": coop.redis,
        "score": ms(clock.now() - timedelta(seconds=90)),
    }
    assert await allocate_bed(ctx, later_bed) == later_bed
    r = await http.get(f"/bookings/{planned['id']}", headers=buyer.h)
    assert r.json()["status"] == "offered"

    text, after = await scrape(guarded)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    outcomes = "coop_booking_outcomes_total"
    assert moved(outcomes, outcome="requested") >= 2
    assert moved(outcomes, outcome="waiting") >= 1
    assert moved(outcomes, outcome="offered") >= 2
    assert moved(outcomes, outcome="accepted") >= 1
    latency = "coop_allocation_latency_seconds"
    assert moved(f"{latency}_count", decision="offered") >= 2
    # the deferred one waited 49 hours: its latency is in the sum, and past the 1-day bucket
    assert moved(f"{latency}_sum", decision="offered") >= 49 * 3600
    assert moved(f"{latency}_bucket", decision="offered", le="86400.0") < moved(
        f"{latency}_count", decision="offered"
    )
    lag = "coop_job_lag_seconds"
    assert moved(f"{lag}_count", job="allocate_bed") >= 1
    assert moved(f"{lag}_sum", job="allocate_bed") >= 90

    # no sample anywhere has a label naming a tenant, a home, a client or a child
    secret_values = {
        region.slug,
        owner.authority,
        buyer.authority,
        owner.client_id,
        buyer.client_id,
        region.admin.client_id,
        now_home["id"],
        later_home["id"],
        now_bed,
        later_bed,
        now_void["id"],
        later_void["id"],
        tonight["id"],
        planned["id"],
        tonight["child"]["ref"],
    }
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            for label, label_value in s.labels.items():
                assert label_value not in secret_values, (s.name, label, label_value)
                assert not any(v in label_value for v in secret_values), (s.name, label)
    for v in secret_values - {tonight["child"]["ref"]}:
        assert v not in text, v


async def test_a_settlement_run_observes_its_duration_and_the_job_its_lag(
    http, guarded, region, coop, clock
):
    await region.authority("cambs")
    last_month = period_of(month_start(month_start(clock.today()) - timedelta(days=1)))
    _, before = await scrape(guarded)
    r = await http.post(
        "/settlement-runs",
        json={"region": region.slug, "period": last_month},
        headers=region.admin.h,
    )
    assert r.status_code == 201, r.text
    ctx = {
        "engine": coop.engine,
        "clock": coop.clock,
        "redis": None,
        "score": ms(clock.now() - timedelta(seconds=5)),
    }
    assert await settle_run_job(ctx, r.json()["id"]) == "completed"
    _, after = await scrape(guarded)
    name = "coop_settlement_run_duration_seconds_count"
    assert value(after, name, outcome="completed") == value(before, name, outcome="completed") + 1
    lag = "coop_job_lag_seconds_count"
    assert value(after, lag, job="settle_run_job") == value(before, lag, job="settle_run_job") + 1
    # asked again: the run is completed already, nothing is carried out, nothing observed
    assert await settle_run_job(ctx, r.json()["id"]) == "completed"
    _, again = await scrape(guarded)
    assert value(again, name, outcome="completed") == value(after, name, outcome="completed")


# -- the worker's port -----------------------------------------------------------------------


def test_the_worker_metrics_app_wants_the_token():
    app = worker_metrics_app(TOKEN)

    def call(headers: dict[str, str]) -> tuple[str, dict[str, str], bytes]:
        seen: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
            seen["status"], seen["headers"] = status, dict(response_headers)

        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": ""}
        environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
        body = b"".join(app(environ, start_response))
        return seen["status"], seen["headers"], body

    status, headers, body = call({})
    assert status.startswith("401") and headers["WWW-Authenticate"].startswith("Bearer")
    assert b"metrics_token_required" in body
    assert call(bearer("nope"))[0].startswith("401")
    status, _, body = call(bearer(TOKEN))
    assert status.startswith("200") and b"coop_job_lag_seconds" in body


def test_the_worker_serves_its_metrics_on_localhost():
    server = serve_worker_metrics("127.0.0.1", 0, TOKEN)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        assert httpx.get(url, timeout=5).status_code == 401
        r = httpx.get(url, headers=bearer(TOKEN), timeout=5)
        assert r.status_code == 200 and "coop_settlement_run_duration_seconds" in r.text
    finally:
        server.shutdown()
        server.server_close()
    assert not any(t.name == "coop-metrics" and t.is_alive() for t in threading.enumerate())
