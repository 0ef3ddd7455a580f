"""The served OpenAPI links, followed by hand (issue #10): a client that reads only the
document goes from a new home to a bed, a void, a booking and its moves.

schemathesis' stateful run wanders the links at random; this walk takes the one path every
council takes, link by link, evaluating each link's runtime expressions against the response
before it, so a wrong pointer or a missing link fails here by name.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from coop.clock import Clock
from tests.contract.harness import Live, Market, Party
from tests.support import child, home_payload


def _pointer(body: Any, pointer: str) -> Any:
    for part in pointer.lstrip("/").split("/"):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


def _value(expression: Any, response: httpx.Response) -> Any:
    if isinstance(expression, dict):
        return {k: _value(v, response) for k, v in expression.items()}
    if isinstance(expression, str) and expression.startswith("$response.body#"):
        return _pointer(response.json(), expression.removeprefix("$response.body#"))
    return expression


class Walker:
    def __init__(self, http: httpx.Client, document: dict[str, Any]) -> None:
        self.http = http
        self.doc = document
        self.by_id = {
            op["operationId"]: (method, path)
            for path, item in document["paths"].items()
            for method, op in item.items()
        }

    def follow(
        self,
        response: httpx.Response,
        source: str,
        link_name: str,
        party: Party,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Follow ``source``'s link ``link_name`` from ``response``: its parameters and body
        come from the link, the rest of the body from ``body``."""
        method, path = self.by_id[source]
        links = self.doc["paths"][path][method]["responses"][str(response.status_code)]["links"]
        link = links[link_name]
        target_method, target_path = self.by_id[link["operationId"]]
        query = {}
        for key, expression in link.get("parameters", {}).items():
            where, _, name = key.partition(".")
            value = _value(expression, response)
            if where == "path":
                target_path = target_path.replace("{" + name + "}", str(value))
            elif where == "query":
                query[name] = value
        payload = {**(body or {}), **_value(link.get("requestBody", {}), response)}
        return self.http.request(
            target_method.upper(),
            target_path,
            params=query,
            json=payload if target_method in ("post", "put", "patch") else None,
            headers=party.h,
        )


def test_a_home_to_a_booking_and_its_moves_by_links_alone(
    live: Live, market: Market, served_document: dict[str, Any]
) -> None:
    today = Clock().today()
    day = lambda n: (today + timedelta(days=n)).isoformat()  # noqa: E731
    owner, buyer = market.owner, market.other
    with httpx.Client(base_url=live.base_url, timeout=30) as http:
        walk = Walker(http, served_document)
        home = http.post("/homes", json=home_payload(), headers=owner.h)
        assert home.status_code == 201, home.text

        bed = walk.follow(home, "createHome", "AddBed", owner, {"label": "Z"})
        assert bed.status_code == 201, bed.text
        changed = walk.follow(bed, "addBed", "UpdateBed", owner, {"label": "Z2", "version": 1})
        assert (changed.status_code, changed.json()["label"]) == (200, "Z2")

        void = walk.follow(
            home, "createHome", "PublishVoidOnFirstBed", owner, {"available_from": day(1)}
        )
        assert void.status_code == 201, void.text
        assert walk.follow(void, "publishVoid", "GetVoid", owner).json()["id"] == void.json()["id"]

        request = {
            "child": child(),
            "urgency": "planned",
            "start_date": day(14),
            "end_date": day(60),
        }
        quote = walk.follow(void, "publishVoid", "QuoteBooking", buyer, request)
        assert quote.status_code == 200, quote.text
        booking = walk.follow(void, "publishVoid", "CreateBooking", buyer, request)
        assert booking.status_code == 201, booking.text
        assert booking.json()["status"] == "pending"

        events = walk.follow(booking, "createBooking", "ListBookingEvents", buyer)
        assert [e["to_status"] for e in events.json()] == ["pending"]
        withdrawn = walk.follow(booking, "createBooking", "WithdrawBooking", buyer, {})
        assert (withdrawn.status_code, withdrawn.json()["status"]) == (200, "withdrawn"), (
            withdrawn.text
        )

        own = walk.follow(
            home,
            "createHome",
            "RequestFirstBed",
            owner,
            {**request, "start_date": day(2), "end_date": day(9)},
        )
        assert own.status_code == 201, own.text
        assert walk.follow(own, "createBooking", "GetBooking", owner).status_code == 200
        withdrawn_void = walk.follow(void, "publishVoid", "WithdrawVoid", owner)
        assert withdrawn_void.json()["status"] == "withdrawn"
