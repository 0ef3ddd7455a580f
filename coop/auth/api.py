"""``POST /oauth/token`` (client credentials), ``/.well-known/jwks.json``, ``/clients``."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import unquote_plus

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from coop.auth import clients as service
from coop.auth.guards import PUBLIC_OPT, requires
from coop.auth.principal import SCOPE_SET
from coop.auth.schemas import ClientCreated, ClientIn, ClientOut, TokenOut
from coop.http import Caller, CoopDep
from coop.openapi import api
from coop.schemas import DEFAULT_LIMIT, Cursor, Limit, Page, Slug

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
#: client ids, secrets, grant types and scope lists are all far shorter than this
MAX_FORM_VALUE = 1000


def _oauth_error(status: int, error: str, description: str, *, basic: bool = False) -> Response:
    """RFC 6749 §5.2 error body (``error``), carrying the problem-details fields too."""
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="coop"' if basic else 'Bearer realm="coop"'
    return Response(
        content={
            "error": error,
            "error_description": description,
            "type": f"https://www.rfc-editor.org/rfc/rfc6749#section-5.2/{error}",
            "title": error.replace("_", " ").capitalize(),
            "status": status,
            "detail": description,
            "code": error,
        },
        status_code=status,
        headers=headers,
    )


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return ("", "")
    # RFC 6749 §2.3.1: both are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


@post(
    "/oauth/token",
    opt={PUBLIC_OPT: True},
    status_code=200,
    tags=["auth"],
    operation_id="getToken",
    summary="Get an access token (OAuth 2.0 client credentials)",
    description=(
        "RFC 6749 §4.4. Form body `grant_type=client_credentials`, optional `scope` "
        "(space-separated, a subset of the client's scopes). Authenticate with HTTP Basic "
        "(`client_secret_basic`) or `client_id`/`client_secret` in the form "
        "(`client_secret_post`). Returns an RFC 9068 JWT access token."
    ),
    responses={},
)
async def token(request: Request, coop: CoopDep) -> Response[TokenOut]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    form: dict[str, Any] = {}
    if content_type in FORM_TYPES:
        try:
            form = dict(await request.form())
        except Exception:  # a broken multipart body: the client's fault, whatever the parser says
            return _oauth_error(400, "invalid_request", "The form could not be read.")
    elif (await request.body()).strip():
        return _oauth_error(
            400, "invalid_request", "Send the form as application/x-www-form-urlencoded."
        )
    basic = _basic_credentials(request.headers.get("authorization", ""))
    given = [*form.values(), *(basic or ())]
    if any(not isinstance(v, str) or len(v) > MAX_FORM_VALUE or "\x00" in v for v in given):
        return _oauth_error(
            400, "invalid_request", "Every form value is a short text without NUL characters."
        )
    post_id, post_secret = form.get("client_id"), form.get("client_secret")
    if basic is not None and (post_secret is not None):
        return _oauth_error(400, "invalid_request", "Use one client authentication method.")
    if basic is not None:
        client_id, secret = basic
    elif isinstance(post_id, str) and isinstance(post_secret, str):
        client_id, secret = post_id, post_secret
    else:
        return _oauth_error(401, "invalid_client", "Client authentication is required.", basic=True)
    grant_type = form.get("grant_type")
    if not grant_type:
        return _oauth_error(400, "invalid_request", "grant_type is required.")
    client = await service.authenticate(
        coop.engine, client_id, secret, scrypt_n=coop.settings.scrypt_n
    )
    if client is None:
        return _oauth_error(
            401, "invalid_client", "Unknown client or wrong secret.", basic=basic is not None
        )
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported.")
    requested = str(form.get("scope") or "").split()
    if requested:
        bad = [s for s in requested if s not in SCOPE_SET or s not in client.scopes]
        if bad:
            return _oauth_error(
                400, "invalid_scope", f"Scope not granted to this client: {' '.join(bad)}."
            )
    scope = " ".join(sorted(set(requested or client.scopes)))
    issued = coop.tokens.issue(client, scope)
    return Response(
        content=TokenOut(
            access_token=issued["access_token"],
            token_type=issued["token_type"],
            expires_in=issued["expires_in"],
            scope=issued["scope"],
        ),
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@get(
    "/.well-known/jwks.json",
    opt={PUBLIC_OPT: True},
    tags=["auth"],
    operation_id="getJwks",
    summary="Public keys that verify access tokens",
    description="The JSON Web Key Set (RFC 7517) of the keys that sign access tokens, "
    "retired keys included until their tokens expire.",
    cache=False,
)
async def jwks(coop: CoopDep) -> dict[str, Any]:
    coop.keyring.maybe_reload()
    return coop.keyring.jwks()


class ClientController(Controller):
    path = "/clients"
    tags = ["clients"]

    @get(
        operation_id="listClients",
        opt=api(problems=(403,)),
        summary="The clients that can act for your authority (or region)",
        description="Any client of an authority lists every client of that authority, "
        "whatever its scopes: who can act for it, who created each (`created_by`: an admin "
        "client's id, or `cli`) and when, and `revoked_at` once revoked — so that a council "
        "can see, and ask its region's admin to revoke, every one. A region-level `coop:admin` "
        "client lists every client of its region (`authority` narrows it to one authority's); "
        "another region-level client gets 403 `insufficient_scope`. An authority's client "
        "asking for another authority's gets 403 `other_authority`. Oldest first; never a "
        "secret or its hash.",
    )
    async def list(
        self,
        coop: CoopDep,
        principal: Caller,
        authority: Annotated[
            Slug | None,
            QueryParameter(description="Only this authority's clients (yours, for a council)"),
        ] = None,
        limit: FromQuery[Limit] = DEFAULT_LIMIT,
        cursor: FromQuery[Cursor | None] = None,
    ) -> Page[ClientOut]:
        return await service.list_clients(
            coop.engine, principal, authority=authority, limit=limit, cursor=cursor
        )

    @post(
        guards=[requires("coop:admin")],
        operation_id="createClient",
        opt=api(problems=(404,)),
        summary="Create an API client of your region",
        description="For an authority of your region or for the region itself. The secret is "
        "returned once and stored hashed. The creation is an audit event (never the secret).",
    )
    async def create(
        self, data: JSONBody[ClientIn], coop: CoopDep, principal: Caller
    ) -> ClientCreated:
        return await service.create_client(
            coop.engine, data, actor=principal, scrypt_n=coop.settings.scrypt_n
        )

    @delete(
        "/{client_id:str}",
        guards=[requires("coop:admin")],
        status_code=200,
        operation_id="revokeClient",
        summary="Revoke a client: its tokens are refused at once",
        description="A client of your region. Revoking twice answers the revoked client. "
        "The revocation is an audit event.",
    )
    async def revoke(
        self,
        coop: CoopDep,
        principal: Caller,
        client_id: FromPath[str],
    ) -> ClientOut:
        return await service.revoke_client(
            coop.engine, client_id, actor=principal, clock=coop.clock
        )
