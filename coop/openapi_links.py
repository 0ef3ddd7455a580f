"""OpenAPI links: how one operation's response feeds the next (OpenAPI 3.1 §4.8.20).

Plain data, merged into the served document under
``paths[path][method].responses[status].links``. A client reads them to follow a home to its
beds, a bed to its void, a void to a booking and a booking to its moves; schemathesis'
stateful run (``tests/contract``) follows them to build real resources and act on them.

``LINKS[operationId][status][link name]`` is an OpenAPI Link Object. Parameter keys carry their
location (``path.home_id``, ``query.bed_id``); a ``requestBody`` names the fields of the next
request taken from this response (the rest of the body is the caller's).
"""

from __future__ import annotations

from typing import Any

Link = dict[str, Any]


def _link(
    operation_id: str,
    description: str,
    parameters: dict[str, str] | None = None,
    *,
    body: Any = None,
) -> Link:
    link: Link = {"operationId": operation_id, "description": description}
    if parameters:
        link["parameters"] = parameters
    if body is not None:
        link["requestBody"] = body
    return link


def _run_links(run: str) -> dict[str, Link]:
    return {
        "GetRun": _link("getSettlementRun", "Read this run (its status).", {"path.run_id": run}),
        "ListPositions": _link(
            "listSettlementPositions", "Its net positions.", {"path.run_id": run}
        ),
        "ListTransfers": _link("listSettlementTransfers", "Who pays whom.", {"path.run_id": run}),
        "ListInvoices": _link("listInvoices", "Its invoices.", {"query.run_id": run}),
    }


# -- the home, its beds, its voids ----------------------------------------------------------

_HOME = "$response.body#/id"
_FIRST_BED = "$response.body#/beds/0/id"


def _home_links(home: str) -> dict[str, Link]:
    return {
        "GetHome": _link("getHome", "Read this home.", {"path.home_id": home}),
        "UpdateHome": _link("updateHome", "Change this home.", {"path.home_id": home}),
        "AddBed": _link("addBed", "Add a bed to this home.", {"path.home_id": home}),
        "UpdateFirstBed": _link(
            "updateBed",
            "Change the home's first bed (or take it out of use).",
            {"path.bed_id": _FIRST_BED},
        ),
        "PublishVoidOnFirstBed": _link(
            "publishVoid", "Publish a void on the home's first bed.", body={"bed_id": _FIRST_BED}
        ),
        "RequestFirstBed": _link(
            "createBooking",
            "Request the home's first bed for one of your own children (owner only: by bed_id).",
            body={"bed_id": _FIRST_BED},
        ),
        "SearchVoidsOfHome": _link(
            "searchVoids", "The home's open voids.", {"query.home_id": home}
        ),
        "ListBookingsOfHome": _link(
            "listBookings", "Bookings on this home's beds.", {"query.home_id": home}
        ),
    }


_BED = "$response.body#/id"


def _bed_links() -> dict[str, Link]:
    return {
        "UpdateBed": _link("updateBed", "Change this bed.", {"path.bed_id": _BED}),
        "PublishVoid": _link("publishVoid", "Publish a void on this bed.", body={"bed_id": _BED}),
        "GetHome": _link("getHome", "The bed's home.", {"path.home_id": "$response.body#/home_id"}),
        "ListBookingsOfBed": _link("listBookings", "Bookings on this bed.", {"query.bed_id": _BED}),
    }


_VOID = "$response.body#/id"


def _void_links(void: str) -> dict[str, Link]:
    return {
        "GetVoid": _link("getVoid", "Read this void.", {"path.void_id": void}),
        "WithdrawVoid": _link("withdrawVoid", "Withdraw this void.", {"path.void_id": void}),
        "QuoteBooking": _link(
            "quoteBooking", "Price and fit of a request for this void.", body={"void_id": void}
        ),
        "CreateBooking": _link("createBooking", "Request this void's bed.", body={"void_id": void}),
    }


# -- bookings -------------------------------------------------------------------------------

_BOOKING = "$response.body#/id"


def _booking_links(booking: str) -> dict[str, Link]:
    moves = {
        "withdrawBooking": "The requester withdraws the request.",
        "cancelBooking": "The requester cancels the booking before the child arrives.",
        "endBooking": "The requester ends the placement.",
        "acceptBooking": "The bed's owner accepts the offer.",
        "rejectBooking": "The bed's owner rejects the offer.",
        "startBooking": "The bed's owner records the child's arrival.",
    }
    links = {
        "GetBooking": _link("getBooking", "Read this booking.", {"path.booking_id": booking}),
        "ListBookingEvents": _link(
            "listBookingEvents",
            "Who moved this booking, when and why.",
            {"path.booking_id": booking},
        ),
    }
    for operation_id, description in moves.items():
        name = operation_id[0].upper() + operation_id[1:]
        links[name] = _link(operation_id, description, {"path.booking_id": booking})
    return links


# -- members, policy, clients ---------------------------------------------------------------


def _authority_links(slug: str, region: str) -> dict[str, Link]:
    return {
        "GetAuthority": _link("getAuthority", "Read this authority.", {"path.slug": slug}),
        "UpdateAuthority": _link("updateAuthority", "Change this authority.", {"path.slug": slug}),
        "GetPolicy": _link("getPolicy", "The policy of its region.", {"path.region": region}),
    }


_POLICY_REGION = "$response.body#/region"


def _policy_links() -> dict[str, Link]:
    return {
        "ReplacePolicy": _link(
            "replacePolicy",
            "Make a new version: what GET returns is a valid PUT body (`version` is the If-Match).",
            {"path.region": _POLICY_REGION},
            body="$response.body",
        ),
        "PatchPolicy": _link(
            "patchPolicy", "Make a new version by merge patch.", {"path.region": _POLICY_REGION}
        ),
        "ListPolicyVersions": _link(
            "listPolicyVersions",
            "Every version of the region's policy.",
            {"path.region": _POLICY_REGION},
        ),
        "GetPolicy": _link(
            "getPolicy", "The region's current policy.", {"path.region": _POLICY_REGION}
        ),
    }


LINKS: dict[str, dict[str, dict[str, Link]]] = {
    # homes and beds
    "createHome": {"201": _home_links(_HOME)},
    "getHome": {"200": _home_links(_HOME)},
    "updateHome": {"200": _home_links(_HOME)},
    "listHomes": {
        "200": {
            "GetFirstHome": _link(
                "getHome", "The first home listed.", {"path.home_id": "$response.body#/items/0/id"}
            ),
            "AddBedToFirstHome": _link(
                "addBed",
                "Add a bed to the first home listed.",
                {"path.home_id": "$response.body#/items/0/id"},
            ),
        }
    },
    "addBed": {"201": _bed_links()},
    "updateBed": {"200": _bed_links()},
    # voids
    "publishVoid": {
        "201": {
            **_void_links(_VOID),
            "GetHome": _link(
                "getHome", "The void's home.", {"path.home_id": "$response.body#/home_id"}
            ),
            "ListBookingsOfBed": _link(
                "listBookings",
                "Bookings on the void's bed.",
                {"query.bed_id": "$response.body#/bed_id"},
            ),
        }
    },
    "getVoid": {"200": _void_links(_VOID)},
    "searchVoids": {
        "200": {
            "GetFirstVoid": _link(
                "getVoid", "The first void found.", {"path.void_id": "$response.body#/items/0/id"}
            ),
            "QuoteFirstVoid": _link(
                "quoteBooking",
                "Price and fit of a request for the first void found.",
                body={"void_id": "$response.body#/items/0/id"},
            ),
            "RequestFirstVoid": _link(
                "createBooking",
                "Request the first void found.",
                body={"void_id": "$response.body#/items/0/id"},
            ),
        }
    },
    # bookings
    "createBooking": {
        "201": {
            **_booking_links(_BOOKING),
            "GetVoid": _link(
                "getVoid", "The void requested.", {"path.void_id": "$response.body#/void_id"}
            ),
        }
    },
    "getBooking": {"200": _booking_links(_BOOKING)},
    "listBookings": {
        "200": {
            "GetFirstBooking": _link(
                "getBooking",
                "The first booking listed.",
                {"path.booking_id": "$response.body#/items/0/id"},
            ),
            "ListFirstBookingEvents": _link(
                "listBookingEvents",
                "The first booking's history.",
                {"path.booking_id": "$response.body#/items/0/id"},
            ),
        }
    },
    **{
        move: {"200": _booking_links(_BOOKING)}
        for move in (
            "withdrawBooking",
            "cancelBooking",
            "endBooking",
            "acceptBooking",
            "rejectBooking",
            "startBooking",
        )
    },
    # members, policy, clients
    "createAuthority": {"201": _authority_links("$response.body#/slug", "$response.body#/region")},
    "getAuthority": {"200": _authority_links("$response.body#/slug", "$response.body#/region")},
    "updateAuthority": {"200": _authority_links("$response.body#/slug", "$response.body#/region")},
    "listAuthorities": {
        "200": {
            "GetFirstAuthority": _link(
                "getAuthority",
                "The first authority listed.",
                {"path.slug": "$response.body#/items/0/slug"},
            ),
        }
    },
    "getPolicy": {"200": _policy_links()},
    "replacePolicy": {"200": _policy_links()},
    "patchPolicy": {"200": _policy_links()},
    "createClient": {
        "201": {
            "RevokeClient": _link(
                "revokeClient",
                "Revoke the client just made.",
                {"path.client_id": "$response.body#/client_id"},
            ),
        }
    },
    # settlement
    **{
        op: {status: _run_links("$response.body#/id")}
        for op, statuses in (
            ("createSettlementRun", ("201", "200")),
            ("getSettlementRun", ("200",)),
        )
        for status in statuses
    },
    "listSettlementRuns": {"200": _run_links("$response.body#/items/0/id")},
    "listInvoices": {
        "200": {
            "GetFirstInvoice": _link(
                "getInvoice",
                "The first invoice listed (JSON or CSV).",
                {"path.invoice_id": "$response.body#/items/0/id"},
            ),
        }
    },
    "getInvoice": {
        "200": {
            "GetRun": _link(
                "getSettlementRun",
                "The run that issued it.",
                {"path.run_id": "$response.body#/run_id"},
            ),
            "SellerStatement": _link(
                "getStatement",
                "The seller's statement (give `from` and `to`).",
                {"path.slug": "$response.body#/seller"},
            ),
            "BuyerStatement": _link(
                "getStatement",
                "The buyer's statement (give `from` and `to`).",
                {"path.slug": "$response.body#/buyer"},
            ),
        }
    },
    "createPayment": {
        "201": {
            "PayerStatement": _link(
                "getStatement",
                "The payer's statement (give `from` and `to`).",
                {"path.slug": "$response.body#/from"},
            ),
            "PayeeStatement": _link(
                "getStatement",
                "The payee's statement (give `from` and `to`).",
                {"path.slug": "$response.body#/to"},
            ),
        }
    },
}
