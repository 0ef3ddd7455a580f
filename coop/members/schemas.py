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
    slug: str
    name: str
    gss_code: str
    region: str
    membership: Membership
    version: int
    created_at: datetime
    updated_at: datetime


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A whole new version (PUT replaces: a section left out takes its defaults)."""

    effective_from: datetime | None = None
    """When the version takes effect; default now. Never in the past."""
    priority: Priority = msgspec.field(default_factory=Priority)
    pricing: Pricing = msgspec.field(default_factory=Pricing)
    rules: Rules = msgspec.field(default_factory=Rules)


class PolicyOut(msgspec.Struct, kw_only=True):
    region: str
    version: int
    """0 is the built-in default, in force until the region's first PUT."""
    effective_from: datetime | None
    priority: Priority
    pricing: Pricing
    rules: Rules
