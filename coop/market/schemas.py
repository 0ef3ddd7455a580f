from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from coop.policy.pricing import PriceBreakdown
from coop.policy.vocabulary import (
    BedStatus,
    HomeGender,
    HomeStatus,
    HomeType,
    Need,
    OfstedRating,
    Operator,
    OutOfUseReason,
    Purpose,
    Risk,
)

Text200 = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Urn = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Za-z0-9]{5,12}$", description="Ofsted URN, e.g. `SC123456`")
]
Postcode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([Gg][Ii][Rr] ?0[Aa]{2}|[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2})$",
        description="A UK postcode, e.g. `CB2 1TN` (stored upper case with one space)",
        examples=["CB2 1TN"],
    ),
]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Age = Annotated[int, msgspec.Meta(ge=0, le=25)]
Kilometres = Annotated[float, msgspec.Meta(gt=0, le=1500, description="kilometres")]
Pence = Annotated[int, msgspec.Meta(ge=0, le=100_000_000, description="integer pence")]
Notes = Annotated[str, msgspec.Meta(max_length=2000)]


class BedIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A bed to add to a home: its label, unique within the home."""

    label: Label


class HomeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A home of the caller's authority (the owner is the token's authority)."""

    name: Text200
    ofsted_urn: Urn
    ofsted_rating: OfstedRating
    operator: Operator
    purpose: Purpose
    district: Text200
    latitude: Latitude
    longitude: Longitude
    age_min: Age
    age_max: Age
    gender: HomeGender
    needs_supported: list[Need] = []
    risks_managed: list[Risk] = []
    accepts_dols: bool = False
    weekly_cost_pence: Pence
    postcode: Postcode | None = None
    """The home's postcode (SSDA903 exports carry it as `PL_POST`)."""
    status: HomeStatus = "open"
    beds: list[BedIn] = []
    """Beds to create with the home (more can be added with POST /homes/{id}/beds)."""


class HomePatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Only the fields given change. Send `If-Match` or `version`."""

    name: Text200 | None = None
    ofsted_urn: Urn | None = None
    ofsted_rating: OfstedRating | None = None
    operator: Operator | None = None
    purpose: Purpose | None = None
    district: Text200 | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    age_min: Age | None = None
    age_max: Age | None = None
    gender: HomeGender | None = None
    needs_supported: list[Need] | None = None
    risks_managed: list[Risk] | None = None
    accepts_dols: bool | None = None
    weekly_cost_pence: Pence | None = None
    postcode: Postcode | None = None
    status: HomeStatus | None = None
    version: int | None = None


class BedPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Only the fields given change. Send `If-Match` or `version`."""

    label: Label | None = None
    status: BedStatus | None = None
    out_of_use_reason: OutOfUseReason | None = None
    """Required when `status` is `out_of_use`."""
    version: int | None = None


class BedOut(msgspec.Struct, kw_only=True):
    """A bed: in use, or out of use with a reason. `version` is its ETag."""

    id: str
    home_id: str
    label: str
    status: BedStatus
    out_of_use_reason: OutOfUseReason | None
    version: int


class HomeOut(msgspec.Struct, kw_only=True):
    """A home as published: its facts, its beds, its capacity and its type."""

    id: str
    owner: str
    region: str
    name: str
    ofsted_urn: str
    ofsted_rating: OfstedRating
    operator: Operator
    purpose: Purpose
    district: str
    latitude: float
    longitude: float
    age_min: int
    age_max: int
    gender: HomeGender
    needs_supported: list[Need]
    risks_managed: list[Risk]
    accepts_dols: bool
    weekly_cost_pence: int
    postcode: str | None
    status: HomeStatus
    home_type: HomeType | None
    """From the number of beds: `solo` (1), `dual` (2), `multi` (3+); null with no beds."""
    registered_capacity: int
    operational_capacity: int
    beds: list[BedOut]
    version: int
    created_at: datetime
    updated_at: datetime


class VoidIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A void to publish: the bed and the window it is offered for."""

    bed_id: str
    available_from: date
    available_until: date | None = None
    """Exclusive end of the window; null means open-ended."""
    notes: Notes = ""


class VoidOut(msgspec.Struct, kw_only=True):
    """A published void: a bed offered to the cooperative for a window."""

    id: str
    bed_id: str
    home_id: str
    owner: str
    available_from: date
    available_until: date | None
    notes: str
    status: str
    published_at: datetime
    home_priority_until: datetime
    """Until then only the owner can be offered the bed (SPEC §3 home window)."""
    withdrawn_at: datetime | None


class HomeSummary(msgspec.Struct, kw_only=True):
    """The home of a void, as a searcher sees it."""

    id: str
    name: str
    owner: str
    district: str
    home_type: HomeType | None
    ofsted_rating: OfstedRating
    operator: Operator
    purpose: Purpose
    age_min: int
    age_max: int
    gender: HomeGender
    accepts_dols: bool
    needs_supported: list[Need]
    risks_managed: list[Risk]


class VoidHit(VoidOut, kw_only=True, omit_defaults=True):
    """A void found by a search, with its home and the caller's own quoted rate."""

    home: HomeSummary
    weekly_rate_pence: int
    """The caller's quoted weekly rate for this bed (its membership; `today` premium if asked)."""
    price_breakdown: PriceBreakdown
    distance_km: float | None = None
    """Great-circle distance from `near_lat`/`near_lon`, when asked."""
