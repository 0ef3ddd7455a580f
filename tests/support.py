"""Test helpers: the ASGI lifespan in its own task, and a region full of actors."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from coop.auth.clients import create_client
from coop.auth.schemas import ClientIn
from coop.context import Coop
from coop.members.schemas import AuthorityIn
from coop.members.service import add_authority

AUTHORITY_SCOPES = ["market:read", "homes:write", "bookings:write", "finance:read", "reports:read"]
ADMIN_SCOPES = ["coop:admin", "market:read", "reports:read", "finance:read"]
PROBLEM = "application/problem+json"


class Lifespan:
    """Run an ASGI app's lifespan in one dedicated task (startup and shutdown in the same task)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._to_app: asyncio.Queue = asyncio.Queue()
        self._from_app: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.create_task(self.app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._from_app.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"app failed to start: {message}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._from_app.get()
        assert self._task is not None
        await self._task


_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def gss() -> str:
    """A GSS code no other authority of this test session has (the column is unique: random
    codes collided about once in a hundred sessions)."""
    return f"E{next(_counter):08d}"


def urn() -> str:
    """An Ofsted URN no other home of this test session has."""
    return f"SC{next(_counter):08d}"


@dataclass
class Actor:
    client_id: str
    secret: str
    token: str
    authority: str | None
    region: str

    @property
    def h(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def home_payload(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Willow House",
        "ofsted_urn": urn(),
        "ofsted_rating": "good",
        "operator": "in_house",
        "purpose": "long_term",
        "district": "Huntingdonshire",
        "latitude": 52.33,
        "longitude": -0.18,
        "age_min": 8,
        "age_max": 17,
        "gender": "mixed",
        "needs_supported": ["semh", "autism"],
        "risks_managed": ["self_harm", "going_missing"],
        "accepts_dols": False,
        "weekly_cost_pence": 500_000,
        "beds": [{"label": "A"}, {"label": "B"}],
    }
    body.update(overrides)
    return body


def child(**overrides: Any) -> dict[str, Any]:
    """A child profile who fits ``home_payload()``: 12, female, semh, self_harm."""
    body: dict[str, Any] = {
        "ref": "case-0042",
        "age": 12,
        "gender": "female",
        "needs": ["semh"],
        "risks_to_self": ["self_harm"],
        "care_alongside": "no_preference",
    }
    body.update(overrides)
    return body


@dataclass
class Region:
    http: httpx.AsyncClient
    coop: Coop
    slug: str
    admin: Actor
    actors: dict[str, Actor] = field(default_factory=dict)

    @classmethod
    async def create(cls, http: httpx.AsyncClient, coop: Coop) -> Region:
        slug = unique("region")
        admin = await issue(http, coop, ClientIn(region=slug, scopes=ADMIN_SCOPES))
        return cls(http=http, coop=coop, slug=slug, admin=admin)

    async def authority(
        self,
        name: str | None = None,
        *,
        membership: str = "member",
        scopes: list[str] | None = None,
    ) -> Actor:
        slug = unique(name or "council")
        await add_authority(
            self.coop.engine,
            AuthorityIn(
                slug=slug,
                name=slug.title(),
                gss_code=gss(),
                region=self.slug,
                membership=membership,  # type: ignore[arg-type]
            ),
            actor=None,
        )
        actor = await issue(
            self.http, self.coop, ClientIn(authority=slug, scopes=scopes or AUTHORITY_SCOPES)
        )
        self.actors[slug] = actor
        return actor

    async def client(self, authority: str, scopes: list[str]) -> Actor:
        return await issue(self.http, self.coop, ClientIn(authority=authority, scopes=scopes))

    async def home(self, owner: Actor, **overrides: Any) -> dict[str, Any]:
        r = await self.http.post("/homes", json=home_payload(**overrides), headers=owner.h)
        assert r.status_code == 201, r.text
        return r.json()

    async def void(self, owner: Actor, bed_id: str, **overrides: Any) -> dict[str, Any]:
        body = {"bed_id": bed_id, "available_from": self.today().isoformat(), **overrides}
        r = await self.http.post("/voids", json=body, headers=owner.h)
        assert r.status_code == 201, r.text
        return r.json()

    def today(self) -> date:
        return self.coop.clock.today()

    def day(self, offset: int) -> str:
        return (self.today() + timedelta(days=offset)).isoformat()


async def issue(http: httpx.AsyncClient, coop: Coop, data: ClientIn) -> Actor:
    created = await create_client(coop.engine, data, actor=None, scrypt_n=coop.settings.scrypt_n)
    r = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(created.client_id, created.client_secret),
    )
    assert r.status_code == 200, r.text
    return Actor(
        client_id=created.client_id,
        secret=created.client_secret,
        token=r.json()["access_token"],
        authority=created.authority,
        region=created.region,
    )


async def count(coop: Coop, table: sa.Table, *where: Any) -> int:
    async with coop.engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where)))


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["code"] == code, body
    assert body["status"] == status
    for key in ("type", "title", "detail"):
        assert body[key], body
    return body


def field_of(body: dict[str, Any]) -> str:
    """The field a problem names first (or an ``errors`` entry's field)."""
    return body["field"] if "field" in body else body["errors"][0]["field"]
