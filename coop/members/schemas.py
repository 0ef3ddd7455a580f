from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from coop.policy.document import Pricing, Priority, Rules
from coop.policy.vocabulary import Membership
from coop.schemas import Slug

GssCode = Annotated[
    str,
    msgspec.Meta(pattern=r"^[EWSN]\d{8}$", description="ONS GSS code, e.g. `E10000003`"),
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class AuthorityIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new member authority of your region (slug and GSS code unique)."""

    slug: Slug
    name: Name
    gss_code: GssCode
    region: Slug
    membership: Membership = "member"


class AuthorityPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Only the fields given change. An authority cannot move region."""

    name: Name | None = None
    gss_code: GssCode | None = None
    membership: Membership | None = None
    version: int | None = None


class AuthorityOut(msgspec.Struct, kw_only=True):
    """A member authority; `version` is its `ETag`."""

    slug: str
    name: str
    gss_code: str
    region: str
    membership: Membership
    version: int
    created_at: datetime
    updated_at: datetime


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A whole new version (PUT replaces: a section left out takes its defaults).

    What `GET` returns is a valid body: `region` and `version` are checked, and an
    `effective_from` that is not in the future means now."""

    region: Slug | None = None
    """If given, the region of the path (else 422 `region_mismatch`)."""
    version: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """The version you read (the one in force now): if another is in force now, 412, like
    a stale `If-Match`. Left out: no check."""
    effective_from: datetime | None = None
    """When the version takes effect, with a UTC offset. Left out, null or not in the future:
    now. In the future: the version is scheduled."""
    priority: Priority = msgspec.field(default_factory=Priority)
    pricing: Pricing = msgspec.field(default_factory=Pricing)
    rules: Rules = msgspec.field(default_factory=Rules)


class PolicyOut(msgspec.Struct, kw_only=True):
    """One version of a region's policy. As `GET` returns it, it is a valid PUT body."""

    region: str
    version: int
    """0 is the built-in default, in force until the region's first version takes effect.
    The `ETag`: send it back as `version` (or `If-Match`)."""
    effective_from: datetime | None
    """When the version took (or takes) effect; null for version 0."""
    priority: Priority
    pricing: Pricing
    rules: Rules
