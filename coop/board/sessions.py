"""The board's sign-in: server-side sessions in Redis behind a cookie, and CSRF tokens.

A person signs in with the id and secret of a ``reports:read`` client. The session (who the
client is, its region, authority and scopes, and the session's CSRF token) lives in Redis;
the browser holds only a random session id in an HttpOnly, SameSite=Lax cookie (Secure over
HTTPS). No access token is made: nothing a script could steal is in the page or a URL.

Redis holds the session under a hash of its id, so a copy of Redis's keys does not give a
working cookie. Every page checks the client is still active: revoking a client ends its
sessions at the next page.

CSRF: the sign-in form is protected by a double-submit token (a random value both in a
short-lived HttpOnly cookie and in the form, compared in constant time), which stops a
hostile site from signing a person in as someone else; every form of a signed-in page
carries the session's own token (the synchroniser pattern).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import msgspec

from coop.auth.principal import Principal

SESSION_COOKIE = "coop_board"
SIGN_IN_COOKIE = "coop_board_csrf"
#: a board session lasts a working day from sign-in (the cookie and Redis alike)
SESSION_SECONDS = 8 * 3600
#: a sign-in form stays good for half an hour
SIGN_IN_SECONDS = 1800
KEY = "coop:board:session:"
#: a session id, a CSRF token: 32 random bytes, URL-safe base64 (43 characters)
TOKEN_BYTES = 32
MAX_TOKEN = 64


class BoardSession(msgspec.Struct, frozen=True, kw_only=True):
    """Who is signed in; never a secret or an access token."""

    client_id: str
    region: str
    authority: str | None
    scopes: list[str]
    csrf: str

    def principal(self) -> Principal:
        return Principal(
            client_id=self.client_id,
            region=self.region,
            authority=self.authority,
            scopes=frozenset(self.scopes),
        )


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def same(given: Any, expected: str | None) -> bool:
    """Constant-time comparison of a submitted token with the expected one."""
    if not isinstance(given, str) or not expected or len(given) > MAX_TOKEN:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _key(session_id: str) -> str:
    return KEY + hashlib.sha256(session_id.encode()).hexdigest()


async def create(redis: Any, who: Principal) -> tuple[str, BoardSession]:
    """A new session for ``who``: its id (for the cookie) and its contents."""
    session = BoardSession(
        client_id=who.client_id,
        region=who.region,
        authority=who.authority,
        scopes=sorted(who.scopes),
        csrf=new_token(),
    )
    session_id = new_token()
    await redis.set(_key(session_id), msgspec.json.encode(session), ex=SESSION_SECONDS)
    return session_id, session


async def load(redis: Any, session_id: str | None) -> BoardSession | None:
    """The session the cookie names; ``None`` if none (or it has run its eight hours)."""
    if not session_id or len(session_id) > MAX_TOKEN:
        return None
    raw = await redis.get(_key(session_id))
    if raw is None:
        return None
    return msgspec.json.decode(raw, type=BoardSession)


async def end(redis: Any, session_id: str | None) -> None:
    if session_id and len(session_id) <= MAX_TOKEN:
        await redis.delete(_key(session_id))
