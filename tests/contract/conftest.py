"""The service on a real socket, with tenants in it, for the contract tests (issue #10).

The app runs under uvicorn in a thread of its own (its own event loop, so its asyncpg pool
never crosses loops), on the session's test database and Redis. Schemathesis, the OpenAPI
validator and the generated client all talk to it over HTTP, as a council's software would.

``COOP_FUZZ_EXAMPLES`` sets how hard schemathesis tries (see ``docs/operations.md``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from coop.app import create_app
from coop.auth.clients import create_client
from coop.auth.schemas import ClientIn
from coop.clock import Clock
from coop.settings import Settings
from tests.contract.harness import Live, Market, Party, Server, created, enrol, token
from tests.support import ADMIN_SCOPES, child, home_payload, unique


@pytest.fixture(scope="session")
def live(settings: Settings) -> Iterator[Live]:
    """The app served by uvicorn on 127.0.0.1 on a free port, for the whole session."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the kernel's free port, held from here on: no race
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", access_log=False
    )
    server = Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="coop-contract-server", daemon=True
    )
    thread.start()
    while not server.listening.wait(timeout=0.5):
        if not thread.is_alive():
            break
    if not server.started:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        pytest.fail("the contract server did not start (see the log above)")
    try:
        yield Live(base_url=f"http://127.0.0.1:{port}", app=app, server=server)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


@pytest.fixture(scope="session")
def market(live: Live, settings: Settings) -> Market:
    """The tenants the hand-written contract tests share (the link walk, the generated
    client)."""
    return make_market(live, settings)


@pytest.fixture(scope="session")
def fuzz_market(live: Live, settings: Settings) -> Market:
    """The fuzzer's own tenants, in a region of their own. The fuzzer is destructive by
    design: with the admin's token it lists the region's clients (``GET /clients``) and
    may revoke any of them, so nothing else may depend on its clients staying valid."""
    return make_market(live, settings)


def make_market(live: Live, settings: Settings) -> Market:
    """Tenants made the way an operator and councils make them: only the first admin client
    comes from the library (as ``coop clients add`` does); the rest is the live API."""
    region = unique("contract")
    made = live.run(
        create_client(
            live.app.state.coop.engine,
            ClientIn(region=region, scopes=ADMIN_SCOPES, name="contract admin"),
            actor=None,
            scrypt_n=settings.scrypt_n,
        )
    )
    with httpx.Client(base_url=live.base_url, timeout=30) as http:
        admin = Party(
            made.client_id,
            made.client_secret,
            token(http, made.client_id, made.client_secret),
            None,
        )
        owner = enrol(http, admin, region, "owner")
        other = enrol(http, admin, region, "other")
        day = Clock().today()  # the server's clock is the real one (England's date)
        homes, voids = [], []
        for party in (owner, other):
            home = created(http.post("/homes", json=home_payload(), headers=party.h))
            void = created(
                http.post(
                    "/voids",
                    json={"bed_id": home["beds"][0]["id"], "available_from": day.isoformat()},
                    headers=party.h,
                )
            )
            homes.append(home)
            voids.append(void)

        def request(party: Party, void: dict[str, Any]) -> dict[str, Any]:
            body = {
                "void_id": void["id"],
                "child": child(),
                "urgency": "planned",
                "start_date": (day + timedelta(days=14)).isoformat(),
                "end_date": (day + timedelta(days=60)).isoformat(),
            }
            return created(http.post("/bookings", json=body, headers=party.h))

        return Market(
            region=region,
            admin=admin,
            owner=owner,
            other=other,
            home=homes[0],
            void=voids[0],
            other_home=homes[1],
            other_void=voids[1],
            booking_on_own_bed=request(other, voids[0]),
            booking_made=request(owner, voids[1]),
        )


@pytest.fixture(scope="session")
def served_document(live: Live) -> dict[str, Any]:
    """``/schema/openapi.json`` exactly as served."""
    r = httpx.get(f"{live.base_url}/schema/openapi.json", timeout=30)
    assert r.status_code == 200, r.text
    media_type = r.headers["content-type"].split(";")[0]
    assert media_type in ("application/vnd.oai.openapi+json", "application/json"), media_type
    return r.json()
