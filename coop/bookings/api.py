"""``/bookings``: request, quote, read, and the moves of both sides."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from coop.auth.guards import requires
from coop.auth.principal import Principal
from coop.bookings import imports, service
from coop.bookings.schemas import (
    MAX_IMPORT_ROWS,
    BookingIn,
    BookingOut,
    EndIn,
    EventOut,
    ImportRow,
    ImportRows,
    MoveIn,
    QuoteOut,
    RejectIn,
    StartIn,
)
from coop.context import Coop
from coop.edge import ROW_RULES
from coop.errors import FieldError
from coop.http import Caller, CoopDep
from coop.idempotency import from_request
from coop.openapi import api
from coop.policy.lifecycle import Status
from coop.schemas import DEFAULT_LIMIT, Cursor, Limit, Page

READ = [requires("market:read")]
REQUESTER = [requires("bookings:write")]
OWNER = [requires("homes:write")]

IDEMPOTENT = (
    " Send an `Idempotency-Key` header to make a retry safe: the same key and body return the "
    "first response; the same key with another body is a 422."
)


async def _call(request: Request, coop: Coop, principal: Principal) -> service.Call:
    return service.Call(
        coop.engine, principal, coop.clock, coop.scheduler, await from_request(request, principal)
    )


#: what every move of a booking can answer besides the usual
MOVE = api(problems=(409, 503), idempotent=True)


async def _import_rules(request: Request, rows: dict[int, ImportRow]) -> list[FieldError]:
    """The import's rules on the rows that decoded, when others did not (``coop.edge``)."""
    coop: Coop = request.app.state.coop
    return await imports.check_rows(coop.engine, request.user, rows, today=coop.clock.today())


class BookingController(Controller):
    path = "/bookings"
    tags = ["bookings"]

    @post(
        "/quote",
        guards=READ,
        status_code=200,
        operation_id="quoteBooking",
        opt=api(problems=(404,)),
        summary="Price and fit of a would-be booking (nothing saved)",
        description="The same decision a request made now would get (`status`, "
        "`status_reason`), every reason it would be declined (`reasons`), and the price. For "
        "anyone but the bed's owner, rules that depend on the children living in the home "
        "(`care_alongside` `only_older`/`only_younger`) are not evaluated: they are listed in "
        "`checked_at_decision` and applied when the request is decided.",
    )
    async def quote(self, data: JSONBody[BookingIn], coop: CoopDep, principal: Caller) -> QuoteOut:
        return await service.quote_booking(coop.engine, principal, data, clock=coop.clock)

    @post(
        "/import",
        guards=[requires("coop:admin")],
        status_code=201,
        operation_id="importBookings",
        opt={**api(problems=(409, 503), idempotent=True), ROW_RULES: _import_rules},
        summary="Admin: record placements that already exist (all or nothing)",
        description="Placements made before the cooperative started, or agreed outside it, "
        f"as a list of 1–{MAX_IMPORT_ROWS} rows (row 1 is the first): each becomes a booking "
        "that is `active` (the child lives there; `start_date` today or earlier, no "
        "`actual_end_date` or `notice_date`) or `ended` (`actual_end_date` between "
        "`start_date` and `end_date`, today or earlier; `notice_date` defaults to it), at the "
        "agreed `weekly_rate_pence`, and is settled like any other booking. Past dates are "
        "allowed. `requester` must be an authority of your region and `bed_id` a bed of one "
        "of its homes (the home's owner is the booking's owner; it may be the requester). "
        "All or nothing: a 422 lists every bad row (`errors[].row`, `field`, `code`), and a "
        "row whose days overlap a booking that holds the bed, or an earlier row on the same "
        "bed, is a 409 `bed_held` naming it (`row`, and `booking_id` or `other_row`); "
        "nothing is written then. The 201 lists the bookings in row order." + IDEMPOTENT,
    )
    async def import_placements(
        self, data: JSONBody[ImportRows], request: Request, coop: CoopDep, principal: Caller
    ) -> list[BookingOut]:
        return await imports.import_placements(
            coop.engine,
            data,
            principal=principal,
            clock=coop.clock,
            idem=await from_request(request, principal),
        )

    @post(
        guards=REQUESTER,
        operation_id="createBooking",
        opt=api(problems=(404, 409, 503), idempotent=True),
        summary="Request a bed",
        description="By `void_id`, or by `bed_id` for your own beds. When the request is "
        "already decidable (you own the bed, or `today` skips the home window) the response "
        "says `offered` or `declined`; otherwise it stays `pending` until `decide_at`."
        + IDEMPOTENT,
    )
    async def create(
        self, data: JSONBody[BookingIn], request: Request, coop: CoopDep, principal: Caller
    ) -> Response[BookingOut]:
        out = await service.create_booking(await _call(request, coop, principal), data)
        return Response(out, status_code=201)

    @get(
        guards=READ,
        operation_id="listBookings",
        summary="Your bookings and bookings on your beds",
        description="`role=requester` (yours) or `role=owner` (on your beds).",
    )
    async def list(
        self,
        coop: CoopDep,
        principal: Caller,
        status: Annotated[Status | None, QueryParameter(description="One status")] = None,
        bed_id: Annotated[str | None, QueryParameter()] = None,
        home_id: Annotated[str | None, QueryParameter()] = None,
        role: Annotated[
            Literal["requester", "owner"] | None,
            QueryParameter(description="`requester`: yours; `owner`: on your beds"),
        ] = None,
        limit: FromQuery[Limit] = DEFAULT_LIMIT,
        cursor: FromQuery[Cursor | None] = None,
    ) -> Page[BookingOut]:
        return await service.list_bookings(
            coop.engine,
            principal,
            status=status,
            bed_id=bed_id,
            home_id=home_id,
            role=role,
            limit=limit,
            cursor=cursor,
        )

    @get(
        "/{booking_id:str}",
        guards=READ,
        operation_id="getBooking",
        summary="One booking (its requester or bed owner)",
        description="The child's profile is shown to the requester and the bed's owner only; "
        "to anyone else the booking does not exist (404).",
    )
    async def get_one(
        self, booking_id: FromPath[str], coop: CoopDep, principal: Caller
    ) -> BookingOut:
        return await service.get_booking(coop.engine, principal, booking_id)

    @get(
        "/{booking_id:str}/events",
        guards=READ,
        operation_id="listBookingEvents",
        summary="Who moved the booking, when, from which state to which, and why",
        description="Oldest first. Only the booking's requester and the bed's owner see them.",
    )
    async def events(
        self, booking_id: FromPath[str], coop: CoopDep, principal: Caller
    ) -> list[EventOut]:
        return await service.list_events(coop.engine, principal, booking_id)

    @post(
        "/{booking_id:str}/withdraw",
        guards=REQUESTER,
        status_code=200,
        operation_id="withdrawBooking",
        opt=MOVE,
        summary="Requester: withdraw a pending or offered request",
        description=IDEMPOTENT.strip(),
    )
    async def withdraw(
        self,
        booking_id: FromPath[str],
        request: Request,
        coop: CoopDep,
        principal: Caller,
        data: JSONBody[MoveIn | None] = None,
    ) -> BookingOut:
        return await service.withdraw_booking(
            await _call(request, coop, principal), booking_id, data.reason if data else None
        )

    @post(
        "/{booking_id:str}/cancel",
        guards=REQUESTER,
        status_code=200,
        operation_id="cancelBooking",
        opt=MOVE,
        summary="Requester: cancel a confirmed booking (charges per policy)",
        description=IDEMPOTENT.strip(),
    )
    async def cancel(
        self,
        booking_id: FromPath[str],
        request: Request,
        coop: CoopDep,
        principal: Caller,
        data: JSONBody[MoveIn | None] = None,
    ) -> BookingOut:
        return await service.cancel_booking(
            await _call(request, coop, principal), booking_id, data.reason if data else None
        )

    @post(
        "/{booking_id:str}/accept",
        guards=OWNER,
        status_code=200,
        operation_id="acceptBooking",
        opt=MOVE,
        summary="Owner: accept the offered match (the rate is locked now)",
        description="The match and the budget are checked again: one that no longer fits is "
        "declined (409 `no_longer_fits`) and the bed goes to the next in rank." + IDEMPOTENT,
    )
    async def accept(
        self, booking_id: FromPath[str], request: Request, coop: CoopDep, principal: Caller
    ) -> BookingOut:
        return await service.accept_booking(await _call(request, coop, principal), booking_id)

    @post(
        "/{booking_id:str}/reject",
        guards=OWNER,
        status_code=200,
        operation_id="rejectBooking",
        opt=MOVE,
        summary="Owner: reject the offered match; the next in rank is offered the bed",
        description=IDEMPOTENT.strip(),
    )
    async def reject(
        self,
        booking_id: FromPath[str],
        data: JSONBody[RejectIn],
        request: Request,
        coop: CoopDep,
        principal: Caller,
    ) -> BookingOut:
        return await service.reject_booking(
            await _call(request, coop, principal), booking_id, data.reason
        )

    @post(
        "/{booking_id:str}/start",
        guards=OWNER,
        status_code=200,
        operation_id="startBooking",
        opt=MOVE,
        summary="Owner: record the child's arrival",
        description=IDEMPOTENT.strip(),
    )
    async def start(
        self,
        booking_id: FromPath[str],
        data: JSONBody[StartIn],
        request: Request,
        coop: CoopDep,
        principal: Caller,
    ) -> BookingOut:
        return await service.start_booking(await _call(request, coop, principal), booking_id, data)

    @post(
        "/{booking_id:str}/end",
        status_code=200,
        operation_id="endBooking",
        opt=api(problems=(409, 503), idempotent=True, any_scope=("bookings:write", "homes:write")),
        summary="Requester or owner: record the end of the placement",
        description="The requester (`bookings:write`) or the bed's owner (`homes:write`). "
        "`date` lies between the start and the sooner of the planned end and today plus the "
        "policy's `early_end_notice_days`: an end never extends a placement. `notice_date` "
        "defaults to today and lies between the booking's start (or the day it was made, if "
        "earlier) and today; ending before the planned end may carry an early-end charge "
        "(settlement)." + IDEMPOTENT,
    )
    async def end(
        self,
        booking_id: FromPath[str],
        data: JSONBody[EndIn],
        request: Request,
        coop: CoopDep,
        principal: Caller,
    ) -> BookingOut:
        return await service.end_booking(await _call(request, coop, principal), booking_id, data)
