"""``/authorities`` and ``/regions/{region}/policy``."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, patch, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from coop.auth.guards import requires
from coop.http import Caller, CoopDep, etag, if_match
from coop.members import service
from coop.members.schemas import AuthorityIn, AuthorityOut, AuthorityPatch, PolicyIn, PolicyOut
from coop.openapi import api
from coop.schemas import DEFAULT_LIMIT, Cursor, Limit, Page


class AuthorityController(Controller):
    path = "/authorities"
    tags = ["members"]

    @get(
        operation_id="listAuthorities",
        summary="List member authorities",
        description="Any valid token may read members.",
    )
    async def list(
        self,
        coop: CoopDep,
        region: Annotated[str | None, QueryParameter(description="Only this region")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor | None = None,
    ) -> Page[AuthorityOut]:
        return await service.list_authorities(
            coop.engine, region=region, limit=limit, cursor=cursor
        )

    @post(
        guards=[requires("coop:admin")],
        operation_id="createAuthority",
        summary="Add an authority to your region",
        description="Its slug and GSS code are unique (409 otherwise).",
        opt=api(problems=(409,)),
    )
    async def add(
        self, data: JSONBody[AuthorityIn], coop: CoopDep, principal: Caller
    ) -> AuthorityOut:
        return await service.add_authority(coop.engine, data, actor=principal)

    @get(
        "/{slug:str}",
        operation_id="getAuthority",
        summary="One authority",
        description="Any valid token may read it. The `ETag` is its version.",
        opt=api(etag=True),
    )
    async def get_one(self, slug: FromPath[str], coop: CoopDep) -> Response[AuthorityOut]:
        out = await service.get_authority(coop.engine, slug)
        return Response(out, headers={"ETag": etag(out.version)})

    @patch(
        "/{slug:str}",
        guards=[requires("coop:admin")],
        operation_id="updateAuthority",
        summary="Change an authority (name, GSS code, membership)",
        description="Send `If-Match` with the ETag, or `version` in the body.",
        opt=api(problems=(409,), if_match=True, etag=True),
    )
    async def update(
        self,
        slug: FromPath[str],
        data: JSONBody[AuthorityPatch],
        request: Request,
        coop: CoopDep,
        principal: Caller,
    ) -> Response[AuthorityOut]:
        out = await service.update_authority(
            coop.engine, slug, data, actor=principal, if_match=if_match(request), clock=coop.clock
        )
        return Response(out, headers={"ETag": etag(out.version)})


class PolicyController(Controller):
    path = "/regions/{region:str}/policy"
    tags = ["policy"]

    @get(
        summary="The region's policy in force",
        description="Version 0 is the built-in default, in force until the first PUT.",
    )
    async def get_policy(self, region: FromPath[str], coop: CoopDep) -> PolicyOut:
        return await service.get_policy(coop.engine, region, coop.clock.now())

    @get("/versions", summary="Every version of the region's policy, oldest first")
    async def versions(self, region: FromPath[str], coop: CoopDep) -> list[PolicyOut]:
        return await service.list_policy_versions(coop.engine, region)

    @put(
        guards=[requires("coop:admin")],
        summary="Make a new version of the policy",
        description="Durations are ISO 8601 (e.g. `PT48H`). Older versions are kept.",
    )
    async def put_policy(
        self, region: FromPath[str], data: JSONBody[PolicyIn], coop: CoopDep, principal: Caller
    ) -> PolicyOut:
        return await service.put_policy(
            coop.engine, region, data, actor=principal, clock=coop.clock
        )
