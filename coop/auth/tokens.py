"""RFC 9068 JWT access tokens: issued with Authlib, verified with joserfc.

Issuing is pure computation (no I/O), so it is fine to call from an async handler.
Verification checks the signature against the key ring (reloading it once on an unknown
``kid``), the ``typ`` header (``at+jwt``), issuer, audience and expiry by the service clock.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc import jwt
from joserfc.errors import JoseError

from coop.auth.keys import ALG, KeyRing
from coop.clock import Clock
from coop.errors import Problem
from coop.settings import Settings


class TokenClient:
    """The little Authlib needs to know of a client."""

    def __init__(self, client_id: str, scopes: list[str], authority: str | None, region: str):
        self.client_id = client_id
        self.scopes = scopes
        self.authority = authority
        self.region = region

    def get_client_id(self) -> str:
        return self.client_id

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or " ".join(self.scopes)


class _Generator(JWTBearerTokenGenerator):
    def __init__(self, keyring: KeyRing, issuer: str, ttl: int, clock: Clock) -> None:
        super().__init__(issuer=issuer, alg=ALG, expires_generator=ttl)
        self.keyring = keyring
        self.clock = clock

    def access_token_generator(self, client, grant_type, user, scope) -> str:
        """Authlib's RFC 9068 claims, but dated by the service clock (Authlib reads
        ``time.time()``): tokens are verified against that clock, so a token issued after a
        test moves it must not be born expired."""
        now = int(self.clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "exp": now + self._get_expires_in(client, grant_type),
            "client_id": client.get_client_id(),
            "iat": now,
            "jti": self.get_jti(client, grant_type, user, scope),
            "scope": scope,
            "sub": str(user.get_user_id()) if user else client.get_client_id(),
            "aud": self.get_audiences(client, user, scope),
        }
        claims.update(self.get_extra_claims(client, grant_type, user, scope))
        header = {"alg": self.alg, "typ": "at+jwt", "kid": self.keyring.current_kid}
        return jwt.encode(header, claims, self.get_jwks())

    def get_jwks(self):
        return self.keyring.signing

    def get_audiences(self, client, user, scope) -> str:
        return self.issuer

    def get_extra_claims(self, client, grant_type, user, scope) -> dict[str, Any]:
        claims: dict[str, Any] = {"region": client.region}
        if client.authority:
            claims["authority"] = client.authority
        return claims


def _unauthorized(code: str, detail: str) -> Problem:
    return Problem(
        401,
        code,
        detail,
        title="Unauthenticated",
        headers={"WWW-Authenticate": 'Bearer realm="coop", error="invalid_token"'},
    )


class Tokens:
    def __init__(self, settings: Settings, keyring: KeyRing, clock: Clock) -> None:
        self.settings = settings
        self.keyring = keyring
        self.clock = clock
        self._generator = _Generator(
            keyring, settings.effective_issuer, settings.token_ttl_seconds, clock
        )

    def issue(self, client: TokenClient, scope: str) -> dict[str, Any]:
        self.keyring.maybe_reload()
        return self._generator.generate(
            grant_type="client_credentials",
            client=client,
            scope=scope,
            include_refresh_token=False,
        )

    def verify(self, raw: str) -> dict[str, Any]:
        try:
            token = self._decode(raw)
        except JoseError:
            self.keyring.maybe_reload()  # a key rotated in another process
            try:
                token = self._decode(raw)
            except (JoseError, ValueError):
                raise _unauthorized("invalid_token", "The access token is not valid.") from None
        except ValueError:
            raise _unauthorized("invalid_token", "The access token is not valid.") from None
        if token.header.get("typ") not in ("at+jwt", "application/at+jwt"):
            raise _unauthorized("invalid_token", "Not an access token (typ must be at+jwt).")
        claims = token.claims
        if claims.get("iss") != self.settings.effective_issuer:
            raise _unauthorized("invalid_token", "The token was issued by someone else.")
        aud = claims.get("aud")
        if self.settings.effective_issuer not in (aud if isinstance(aud, list) else [aud]):
            raise _unauthorized("invalid_token", "The token is for another audience.")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= self.clock.now().timestamp():
            raise _unauthorized("token_expired", "The access token has expired.")
        for name in ("client_id", "region", "scope"):
            if not isinstance(claims.get(name), str):
                raise _unauthorized("invalid_token", f"The token has no {name}.")
        return claims

    def _decode(self, raw: str) -> Any:
        return jwt.decode(raw, self.keyring.verifying, algorithms=[ALG])
