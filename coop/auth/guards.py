"""Bearer-token authentication (every request but the public ones) and scope guards.

The token becomes a :class:`Principal` here, once; services take the principal and filter
every query by it (tenancy lives in the services, never in controllers).
"""

from __future__ import annotations

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Receive, Scope, Send

from coop.auth.clients import is_active
from coop.auth.principal import Principal
from coop.context import Coop
from coop.errors import Problem, problem_response

PUBLIC_OPT = "public"


def _unauthenticated(code: str, detail: str) -> Problem:
    return Problem(
        401,
        code,
        detail,
        title="Unauthenticated",
        headers={"WWW-Authenticate": 'Bearer realm="coop"'},
    )


class BearerAuth(AbstractAuthenticationMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except Problem as exc:
            if exc.status != 401:
                raise
            # Answer a refused token here, so the middleware outside (metrics) sees a 401.
            request: Request = Request(scope, receive)
            response = problem_response(exc, request)
            await response.to_asgi_response(app=None, request=request)(scope, receive, send)

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise _unauthenticated("missing_token", "Send an access token: Authorization: Bearer …")
        coop: Coop = connection.app.state.coop
        claims = coop.tokens.verify(raw.strip())
        async with coop.engine.connect() as conn:
            if not await is_active(conn, claims["client_id"]):
                raise _unauthenticated("client_revoked", "The client of this token was revoked.")
        principal = Principal(
            client_id=claims["client_id"],
            region=claims["region"],
            authority=claims.get("authority"),
            scopes=frozenset(claims["scope"].split()),
        )
        return AuthenticationResult(user=principal, auth=claims)


def requires(*scopes: str):
    """A guard: the token must carry every one of ``scopes``."""

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # the automatic OPTIONS answer lists methods only (and carries no token)
        principal: Principal = connection.user
        missing = [s for s in scopes if not principal.has(s)]
        if missing:
            wanted = " ".join(missing)
            raise Problem(
                403,
                "insufficient_scope",
                f"This needs the {' '.join(missing)} scope.",
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{wanted}"'
                },
            )

    guard.__name__ = f"requires_{'_'.join(s.replace(':', '_') for s in scopes)}"
    guard.scopes = scopes  # type: ignore[attr-defined]  # read by coop.openapi
    return guard
