"""``/authorities`` and ``/regions/{region}/policy``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.params import Body, FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

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
        limit: FromQuery[Limit] = DEFAULT_LIMIT,
        cursor: FromQuery[Cursor | None] = None,
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


MERGE_PATCH = "application/merge-patch+json"

_ETAG = '^(W/)?"?[0-9]{1,18}"?$'
IfMatch = Annotated[
    Annotated[str, msgspec.Meta(max_length=40, pattern=_ETAG)] | None,  # the edge checks these
    HeaderParameter(  # ... and the OpenAPI document shows these
        name="If-Match",
        description='The `ETag` of the policy you read, e.g. `"3"` (its `version`): if another '
        "version is in force now, 412. Optional, like `version` in the body.",
        max_length=40,
        pattern=_ETAG,
    ),
]
"""``If-Match``, declared (and checked by the edge) for the policy's writes: unlike the other
writes' (``api(if_match=True)``), a policy write without it or ``version`` is not a 428, and
a stale body ``version`` is a 412, not a 409."""


def _changed(change: service.PolicyChange) -> Response[PolicyOut]:
    """The new version; its ``ETag`` if it is in force now (a scheduled one is not yet)."""
    headers = {"ETag": etag(change.policy.version)} if change.in_force else {}
    return Response(change.policy, headers=headers)


class PolicyController(Controller):
    path = "/regions/{region:str}/policy"
    tags = ["policy"]

    @get(
        operation_id="getPolicy",
        summary="The region's policy in force",
        description="Any valid token may read it. Version 0 is the built-in default, in force "
        "until the first version takes effect. The `ETag` is the version. What GET returns is "
        "a valid PUT body: change it and send it back.",
        opt=api(etag=True),
    )
    async def get_policy(self, region: FromPath[str], coop: CoopDep) -> Response[PolicyOut]:
        out = await service.get_policy(coop.engine, region, coop.clock.now())
        return Response(out, headers={"ETag": etag(out.version)})

    @get(
        "/versions",
        operation_id="listPolicyVersions",
        summary="Every version of the region's policy, oldest first",
        description="Any valid token may read them: every stored version, those scheduled "
        "ahead too. Version 0 (the built-in default) is not stored, so not listed.",
    )
    async def versions(self, region: FromPath[str], coop: CoopDep) -> list[PolicyOut]:
        return await service.list_policy_versions(coop.engine, region)

    @put(
        guards=[requires("coop:admin")],
        operation_id="replacePolicy",
        summary="Make a new version of the policy",
        description="A whole document: a section or setting left out takes its built-in "
        "default. What GET returns is a valid body: `region`, if given, must be the path's "
        "(422 `region_mismatch`); `version`, like `If-Match`, must name the version in force "
        "now (412 `precondition_failed`); an `effective_from` not in the future means now, "
        "one in the future schedules the version. Durations are ISO 8601 (e.g. `PT48H`). "
        "Older versions are kept. The `ETag` is sent when the new version is in force now.",
        opt=api(problems=(412, 503), etag=True),
    )
    async def put_policy(
        self,
        region: FromPath[str],
        data: JSONBody[PolicyIn],
        request: Request,
        coop: CoopDep,
        principal: Caller,
        if_match_header: IfMatch = None,
    ) -> Response[PolicyOut]:
        change = await service.put_policy(
            coop.engine,
            region,
            data,
            actor=principal,
            clock=coop.clock,
            if_match=if_match(request),
        )
        return _changed(change)

    @patch(
        guards=[requires("coop:admin")],
        operation_id="patchPolicy",
        summary="Make a new version of the policy by merge patch",
        description="The body (`application/merge-patch+json`, RFC 7396) patches the GET "
        "representation of the version in force: objects merge, `null` removes a setting "
        "(back to its default), anything else replaces. The result is then taken exactly as "
        "a PUT body (`region`, `version`, `If-Match` and `effective_from` too) and makes a "
        "new version. The `ETag` is sent when the new version is in force now.",
        opt=api(problems=(412, 503), etag=True, media_type=MERGE_PATCH),
    )
    async def patch_policy(
        self,
        region: FromPath[str],
        data: Annotated[
            dict[str, Any],
            Body(
                media_type=MERGE_PATCH,
                title="PolicyMergePatch",
                description="An RFC 7396 merge patch of the policy's GET representation, "
                'e.g. `{"pricing": {"margin_bp": 600}}`.',
            ),
        ],
        request: Request,
        coop: CoopDep,
        principal: Caller,
        if_match_header: IfMatch = None,
    ) -> Response[PolicyOut]:
        change = await service.patch_policy(
            coop.engine,
            region,
            data,
            actor=principal,
            clock=coop.clock,
            if_match=if_match(request),
        )
        return _changed(change)
