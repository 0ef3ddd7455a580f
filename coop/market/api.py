"""``/homes``, ``/beds``, ``/voids``: publish and search the cooperative's beds."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from coop.auth.guards import requires
from coop.http import Caller, CoopDep, etag, if_match
from coop.idempotency import from_request
from coop.market import service
from coop.market.schemas import (
    Age,
    BedIn,
    BedOut,
    BedPatch,
    HomeIn,
    HomeOut,
    HomePatch,
    Kilometres,
    Latitude,
    Longitude,
    Pence,
    VoidHit,
    VoidIn,
    VoidOut,
)
from coop.market.search import VoidQuery
from coop.openapi import api
from coop.policy.vocabulary import ChildGender, HomeStatus, Need, Risk, Urgency
from coop.schemas import DEFAULT_LIMIT, Cursor, Limit, Page

READ = [requires("market:read")]
WRITE = [requires("homes:write")]


def _split(values: list[str] | None) -> list[str]:
    """Accept `needs=a&needs=b` and `needs=a,b` alike. An empty code (`needs=`, `a,,b`) is
    kept, so the search refuses it as an unknown code rather than ignoring the filter."""
    return [v.strip() for item in values or [] for v in item.split(",")]


class HomeController(Controller):
    path = "/homes"
    tags = ["homes"]

    @post(
        guards=WRITE,
        operation_id="createHome",
        summary="Register a home of your authority (optionally with its beds)",
        description="The home belongs to your authority. Its Ofsted URN is unique, its bed "
        "labels differ, and its type (solo, dual, multi) follows its registered beds.",
        opt=api(problems=(409, 503), idempotent=True, etag=True),
    )
    async def create(
        self, data: JSONBody[HomeIn], request: Request, coop: CoopDep, principal: Caller
    ) -> Response[HomeOut]:
        idem = await from_request(request, principal)
        out = await service.create_home(coop.engine, principal, data, coop.clock, idem)
        return Response(out, status_code=201, headers={"ETag": etag(out.version)})

    @get(
        guards=READ,
        operation_id="listHomes",
        summary="Homes of your region",
        description="Every home of your region, by id; filter by `owner` and `status`.",
    )
    async def list(
        self,
        coop: CoopDep,
        principal: Caller,
        owner: Annotated[str | None, QueryParameter(description="Owning authority's slug")] = None,
        status: Annotated[HomeStatus | None, QueryParameter()] = None,
        limit: FromQuery[Limit] = DEFAULT_LIMIT,
        cursor: FromQuery[Cursor | None] = None,
    ) -> Page[HomeOut]:
        return await service.list_homes(
            coop.engine, principal, owner=owner, status=status, limit=limit, cursor=cursor
        )

    @get(
        "/{home_id:str}",
        guards=READ,
        operation_id="getHome",
        summary="One home with its beds",
        description="Any home of your region. The `ETag` is its version, for `If-Match`.",
        opt=api(etag=True),
    )
    async def get_one(
        self, home_id: FromPath[str], coop: CoopDep, principal: Caller
    ) -> Response[HomeOut]:
        out = await service.get_home(coop.engine, principal, home_id)
        return Response(out, headers={"ETag": etag(out.version)})

    @patch(
        "/{home_id:str}",
        guards=WRITE,
        operation_id="updateHome",
        summary="Change a home",
        description="Send `If-Match` with the ETag (stale: 412) or `version` (stale: 409). "
        "Only the fields given change.",
        opt=api(problems=(409, 503), if_match=True, etag=True),
    )
    async def update(
        self,
        home_id: FromPath[str],
        data: JSONBody[HomePatch],
        request: Request,
        coop: CoopDep,
        principal: Caller,
    ) -> Response[HomeOut]:
        out = await service.update_home(
            coop.engine, principal, home_id, data, if_match=if_match(request), clock=coop.clock
        )
        return Response(out, headers={"ETag": etag(out.version)})

    @post(
        "/{home_id:str}/beds",
        guards=WRITE,
        operation_id="addBed",
        summary="Add a bed to your home",
        description="Its label must differ from the home's other beds (409 otherwise).",
        opt=api(problems=(409, 503), idempotent=True, etag=True),
    )
    async def add_bed(
        self,
        home_id: FromPath[str],
        data: JSONBody[BedIn],
        request: Request,
        coop: CoopDep,
        principal: Caller,
    ) -> Response[BedOut]:
        idem = await from_request(request, principal)
        out = await service.add_bed(coop.engine, principal, home_id, data, coop.clock, idem)
        return Response(out, status_code=201, headers={"ETag": etag(out.version)})


class BedController(Controller):
    path = "/beds"
    tags = ["homes"]

    @patch(
        "/{bed_id:str}",
        guards=WRITE,
        operation_id="updateBed",
        summary="Relabel a bed, or take it in or out of use (with a reason)",
        description="Send `If-Match` with the ETag (stale: 412) or `version` (stale: 409); "
        "with neither, 428. A bed out of use says why (`out_of_use_reason`).",
        opt=api(problems=(409, 503), if_match=True, etag=True),
    )
    async def update(
        self,
        bed_id: FromPath[str],
        data: JSONBody[BedPatch],
        request: Request,
        coop: CoopDep,
        principal: Caller,
    ) -> Response[BedOut]:
        out = await service.update_bed(
            coop.engine, principal, bed_id, data, if_match=if_match(request), clock=coop.clock
        )
        return Response(out, headers={"ETag": etag(out.version)})


class VoidController(Controller):
    path = "/voids"
    tags = ["voids"]

    @post(
        guards=WRITE,
        operation_id="publishVoid",
        opt=api(problems=(404, 409, 503), idempotent=True),
        summary="Publish a void: offer a bed to the cooperative for a window",
        description="The owner alone can be offered it until `home_priority_until` (the "
        "policy's home window). Homes rated below the region's minimum, or closed, cannot "
        "publish (422).",
    )
    async def publish(
        self, data: JSONBody[VoidIn], request: Request, coop: CoopDep, principal: Caller
    ) -> Response[VoidOut]:
        idem = await from_request(request, principal)
        out = await service.publish_void(coop.engine, principal, data, coop.clock, idem)
        return Response(out, status_code=201)

    @get(
        guards=READ,
        operation_id="searchVoids",
        opt=api(enums={"needs": Need, "risks": Risk}),
        summary="Search open voids of your region",
        description="Each result carries your quoted `weekly_rate_pence` (by your membership; "
        "with the emergency premium if `urgency=today`) and `distance_km` when "
        "`near_lat`/`near_lon` are given (then results are nearest first).",
    )
    async def search(
        self,
        coop: CoopDep,
        principal: Caller,
        region: Annotated[
            str | None, QueryParameter(description="Your region (the default)")
        ] = None,
        from_: Annotated[
            date | None,
            QueryParameter(name="from", description="Bed needed from (void covers this day)"),
        ] = None,
        to: Annotated[date | None, QueryParameter(description="…until (exclusive)")] = None,
        age: Annotated[
            Age | None, QueryParameter(description="Child's age: within the home's")
        ] = None,
        gender: Annotated[ChildGender | None, QueryParameter(description="Child's gender")] = None,
        needs: Annotated[
            list[str] | None, QueryParameter(description="Needs codes, all met")
        ] = None,
        risks: Annotated[
            list[str] | None, QueryParameter(description="Risk codes, all managed")
        ] = None,
        dols: Annotated[
            bool | None, QueryParameter(description="Needs a DoLS-accepting home")
        ] = None,
        max_weekly_price_pence: Annotated[
            Pence | None, QueryParameter(description="Your quoted weekly rate at most")
        ] = None,
        near_lat: Annotated[
            Latitude | None, QueryParameter(description="Distance from here")
        ] = None,
        near_lon: Annotated[Longitude | None, QueryParameter()] = None,
        within_km: Annotated[
            Kilometres | None, QueryParameter(description="Only this close")
        ] = None,
        urgency: Annotated[
            Urgency, QueryParameter(description="Quote for this urgency")
        ] = "planned",
        home_id: Annotated[str | None, QueryParameter()] = None,
        limit: FromQuery[Limit] = DEFAULT_LIMIT,
        cursor: FromQuery[Cursor | None] = None,
    ) -> Page[VoidHit]:
        query = VoidQuery(
            region=region,
            from_=from_,
            to=to,
            age=age,
            gender=gender,
            needs=_split(needs),
            risks=_split(risks),
            dols=dols,
            max_weekly_price_pence=max_weekly_price_pence,
            near_lat=near_lat,
            near_lon=near_lon,
            within_km=within_km,
            urgency=urgency,
            home_id=home_id,
            limit=limit,
            cursor=cursor,
        )
        return await service.search_voids(coop.engine, principal, query, coop.clock)

    @get(
        "/{void_id:str}",
        guards=READ,
        operation_id="getVoid",
        summary="One void",
        description="Any void of your region, open or not.",
    )
    async def get_one(self, void_id: FromPath[str], coop: CoopDep, principal: Caller) -> VoidOut:
        return await service.get_void(coop.engine, principal, void_id)

    @post(
        "/{void_id:str}/withdraw",
        guards=WRITE,
        status_code=200,
        operation_id="withdrawVoid",
        summary="Withdraw a void (no new offers on it)",
        description="Requests already made on it are decided as before; no new ones can be.",
        opt=api(problems=(409, 503), idempotent=True),
    )
    async def withdraw(
        self, void_id: FromPath[str], request: Request, coop: CoopDep, principal: Caller
    ) -> VoidOut:
        idem = await from_request(request, principal)
        return await service.withdraw_void(coop.engine, principal, void_id, coop.clock, idem)
