"""What the contract tests share: the server thread, the tenants, the document with its links."""

from __future__ import annotations

import asyncio
import copy
import os
import socket
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from coop.openapi_links import LINKS
from tests.support import AUTHORITY_SCOPES, gss, unique

# -- how hard to fuzz ------------------------------------------------------------------------

#: ``COOP_FUZZ_EXAMPLES=500`` for the long run; unset: the CI budget.
FUZZ_EXAMPLES = int(os.environ.get("COOP_FUZZ_EXAMPLES") or 0)
LONG_RUN = FUZZ_EXAMPLES > 0

# -- the operations the document names ------------------------------------------------------

#: operationId -> (method, path): the links in ``coop.openapi_links`` name operations by id.
OPERATIONS: dict[str, tuple[str, str]] = {
    "getToken": ("post", "/oauth/token"),
    "getJwks": ("get", "/.well-known/jwks.json"),
    "getHealth": ("get", "/health"),
    "getReadiness": ("get", "/ready"),
    "createClient": ("post", "/clients"),
    "listClients": ("get", "/clients"),
    "revokeClient": ("delete", "/clients/{client_id}"),
    "listAuthorities": ("get", "/authorities"),
    "createAuthority": ("post", "/authorities"),
    "getAuthority": ("get", "/authorities/{slug}"),
    "updateAuthority": ("patch", "/authorities/{slug}"),
    "getPolicy": ("get", "/regions/{region}/policy"),
    "replacePolicy": ("put", "/regions/{region}/policy"),
    "patchPolicy": ("patch", "/regions/{region}/policy"),
    "listPolicyVersions": ("get", "/regions/{region}/policy/versions"),
    "createHome": ("post", "/homes"),
    "listHomes": ("get", "/homes"),
    "getHome": ("get", "/homes/{home_id}"),
    "updateHome": ("patch", "/homes/{home_id}"),
    "addBed": ("post", "/homes/{home_id}/beds"),
    "updateBed": ("patch", "/beds/{bed_id}"),
    "publishVoid": ("post", "/voids"),
    "searchVoids": ("get", "/voids"),
    "getVoid": ("get", "/voids/{void_id}"),
    "withdrawVoid": ("post", "/voids/{void_id}/withdraw"),
    "quoteBooking": ("post", "/bookings/quote"),
    "createBooking": ("post", "/bookings"),
    "listBookings": ("get", "/bookings"),
    "getBooking": ("get", "/bookings/{booking_id}"),
    "listBookingEvents": ("get", "/bookings/{booking_id}/events"),
    "withdrawBooking": ("post", "/bookings/{booking_id}/withdraw"),
    "cancelBooking": ("post", "/bookings/{booking_id}/cancel"),
    "endBooking": ("post", "/bookings/{booking_id}/end"),
    "acceptBooking": ("post", "/bookings/{booking_id}/accept"),
    "rejectBooking": ("post", "/bookings/{booking_id}/reject"),
    "startBooking": ("post", "/bookings/{booking_id}/start"),
    "importBookings": ("post", "/bookings/import"),
    "createSettlementRun": ("post", "/settlement-runs"),
    "listSettlementRuns": ("get", "/settlement-runs"),
    "getSettlementRun": ("get", "/settlement-runs/{run_id}"),
    "listSettlementPositions": ("get", "/settlement-runs/{run_id}/positions"),
    "listSettlementTransfers": ("get", "/settlement-runs/{run_id}/transfers"),
    "listInvoices": ("get", "/invoices"),
    "getInvoice": ("get", "/invoices/{invoice_id}"),
    "createPayment": ("post", "/payments"),
    "listPayments": ("get", "/payments"),
    "getStatement": ("get", "/authorities/{slug}/statement"),
    "getCapacityReport": ("get", "/reports/capacity"),
    "getCapacitySeries": ("get", "/reports/capacity/series"),
    "getIncomeReport": ("get", "/reports/income"),
    "getDemandReport": ("get", "/reports/demand"),
    "getSsdaEpisodes": ("get", "/exports/ssda903"),
}

#: Operations only a region's ``coop:admin`` client may call: fuzzed with the admin's token.
ADMIN_OPERATIONS = {
    OPERATIONS[name]
    for name in (
        "createClient",
        "revokeClient",
        "createAuthority",
        "updateAuthority",
        "replacePolicy",
        "patchPolicy",
        "createSettlementRun",
        "createPayment",
        "importBookings",
    )
}


# -- the server ------------------------------------------------------------------------------


class Server(uvicorn.Server):
    """uvicorn that says when it is listening, and on which event loop."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
            self.loop = asyncio.get_running_loop()
        finally:
            self.listening.set()  # also on failure: the waiter then finds it not started


@dataclass
class Live:
    base_url: str
    app: Any
    server: Server

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the server's own loop (where its database pool lives)."""
        assert self.server.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.server.loop).result(timeout=60)


# -- the tenants -----------------------------------------------------------------------------


@dataclass
class Party:
    client_id: str
    client_secret: str
    token: str
    authority: str | None

    @property
    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def token(http: httpx.Client, client_id: str, secret: str) -> str:
    r = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def created(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 201, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


def enrol(http: httpx.Client, admin: Party, region: str, name: str) -> Party:
    """A new member council of ``region`` with a client of every authority scope, by the API."""
    slug = unique(name)
    body = {"slug": slug, "name": slug.title(), "gss_code": gss(), "region": region}
    created(http.post("/authorities", json=body, headers=admin.h))
    client = created(
        http.post(
            "/clients",
            json={"authority": slug, "scopes": AUTHORITY_SCOPES, "name": name},
            headers=admin.h,
        )
    )
    secret = client["client_secret"]
    return Party(client["client_id"], secret, token(http, client["client_id"], secret), slug)


@dataclass
class Market:
    """A region with two member councils, each with a home, an open void and a booking."""

    region: str
    admin: Party
    owner: Party  # the council schemathesis acts as
    other: Party
    home: dict[str, Any]
    void: dict[str, Any]
    other_home: dict[str, Any]
    other_void: dict[str, Any]
    booking_on_own_bed: dict[str, Any]  # ``other`` asked for ``owner``'s bed
    booking_made: dict[str, Any]  # ``owner`` asked for ``other``'s bed


# -- the document ----------------------------------------------------------------------------


def operation_ids(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(method, path) -> the operationId the document gives it."""
    return {
        (method, path): op["operationId"]
        for path, item in document.get("paths", {}).items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }


def with_links(document: dict[str, Any]) -> dict[str, Any]:
    """The document with ``coop.openapi_links.LINKS`` on every response that has no links.

    While the served document catches up (links not merged yet, or naming operationIds it
    does not have yet), each link's target is named by the operationId the document really
    gives that (method, path), and a link to an operation not served is left out, so the
    stateful run follows what can be followed. ``test_openapi_document`` holds the served
    document to the links as written.
    """
    doc = copy.deepcopy(document)
    ids = operation_ids(doc)
    served = set(ids.values())

    def resolve(links: dict[str, Any]) -> dict[str, Any]:
        resolved = {}
        for name, link in links.items():
            target = link.get("operationId")
            if target not in served:
                target = ids.get(OPERATIONS.get(target, ("", "")))
            if target is not None:
                resolved[name] = {**link, "operationId": target}
        return resolved

    for source, by_status in LINKS.items():
        operation = doc["paths"].get(OPERATIONS[source][1], {}).get(OPERATIONS[source][0])
        for status, links in by_status.items():
            response = (operation or {}).get("responses", {}).get(status)
            if response is not None and not response.get("links"):
                response["links"] = dict(links)
    for item in doc["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                if isinstance(response, dict) and response.get("links"):
                    response["links"] = resolve(response["links"])
                    for link in response["links"].values():
                        extra = SCENARIO_BODY.get(link["operationId"])
                        if extra and isinstance(link.get("requestBody"), dict):
                            link["requestBody"] = {**extra, **link["requestBody"]}
    return doc


#: Values a linked step sends besides the ids it carries, so that it can succeed on any day:
#: generated dates fall anywhere in the calendar, and a void or booking cannot start in the
#: past. The far future is within the edge's calendar (to 2100-12-31). Only the fuzz adds
#: them: the served links carry ids only.
SCENARIO_BODY: dict[str, dict[str, Any]] = {
    "publishVoid": {"available_from": "2100-01-04"},
    "createBooking": {
        "start_date": "2100-01-04",
        "end_date": "2100-02-01",
        "urgency": "planned",
    },
}
