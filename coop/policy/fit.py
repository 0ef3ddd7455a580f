"""Does a child fit a home? (SPEC §3 "Allocation": "fits the home").

Checked in this order, the first failure being the booking's ``status_reason``:

- ``home_closed``: the home is closed;
- ``age``: the child's age lies within ``[age_min, age_max]``, inclusive;
- ``gender``: a mixed home takes any child, a male home only boys, a female home only girls
  (so a child of gender ``other`` fits only a mixed home);
- ``needs``: every need is in the home's ``needs_supported``;
- ``risks``: every risk to self and to others is in the home's ``risks_managed``;
- ``dols``: a child under a deprivation of liberty order needs a home that ``accepts_dols``;
- ``care_alongside``: ``solo`` only in a solo home; ``with_others`` never in a solo home;
  ``only_older`` / ``only_younger``: every child living there over the period is strictly
  older / younger; ``no_preference`` anywhere;
- ``max_weeks``: the period ``[start, end)`` lasts at most ``7 × max_weeks[key]`` days, for the
  home's purpose and for its home type, whichever ``rules.max_weeks`` names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from coop.policy.document import Rules
from coop.policy.vocabulary import (
    CareAlongside,
    ChildGender,
    HomeGender,
    HomeStatus,
    HomeType,
    Need,
    Purpose,
    RiskToOthers,
    RiskToSelf,
)

FitReason = Literal[
    "home_closed", "age", "gender", "needs", "risks", "dols", "care_alongside", "max_weeks"
]


class ChildProfile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The child a booking is for: never a name, only what matching needs."""

    ref: Annotated[str, Meta(min_length=1, max_length=64)]
    age: Annotated[int, Meta(ge=0, le=25)]
    gender: ChildGender
    needs: list[Need] = []
    risks_to_self: list[RiskToSelf] = []
    risks_to_others: list[RiskToOthers] = []
    dols: bool = False
    care_alongside: CareAlongside = "no_preference"
    home_latitude: Annotated[float, Meta(ge=-90, le=90)] | None = None
    home_longitude: Annotated[float, Meta(ge=-180, le=180)] | None = None


class HomeFacts(msgspec.Struct, frozen=True):
    """What a home offers, as far as fit is concerned."""

    age_min: int
    age_max: int
    gender: HomeGender
    needs_supported: frozenset[str]
    risks_managed: frozenset[str]
    accepts_dols: bool
    home_type: HomeType
    purpose: Purpose
    status: HomeStatus


class Resident(msgspec.Struct, frozen=True):
    """A child living in the home over the requested period."""

    age: int


def _gender_fits(child: ChildGender, home: HomeGender) -> bool:
    return home == "mixed" or child == home


def _care_alongside_fits(
    child: ChildProfile, home: HomeFacts, residents: Sequence[Resident]
) -> bool:
    wish = child.care_alongside
    if wish == "solo":
        return home.home_type == "solo"
    if wish == "with_others":
        return home.home_type != "solo"
    if wish == "only_older":
        return all(r.age > child.age for r in residents)
    if wish == "only_younger":
        return all(r.age < child.age for r in residents)
    return True


def _within_max_weeks(home: HomeFacts, start: date, end: date, rules: Rules) -> bool:
    days = (end - start).days
    limits = [rules.max_weeks[k] for k in (home.purpose, home.home_type) if k in rules.max_weeks]
    return all(days <= 7 * weeks for weeks in limits)


def fit_all(
    child: ChildProfile,
    home: HomeFacts,
    residents: Sequence[Resident],
    start: date,
    end: date,
    rules: Rules,
) -> list[FitReason]:
    """Every reason the child does not fit, in the order above; empty when the child fits."""
    if end <= start:
        raise ValueError(f"the period [{start}, {end}) is empty")
    risks = (*child.risks_to_self, *child.risks_to_others)
    checks: list[tuple[FitReason, bool]] = [
        ("home_closed", home.status != "closed"),
        ("age", home.age_min <= child.age <= home.age_max),
        ("gender", _gender_fits(child.gender, home.gender)),
        ("needs", all(n in home.needs_supported for n in child.needs)),
        ("risks", all(r in home.risks_managed for r in risks)),
        ("dols", not child.dols or home.accepts_dols),
        ("care_alongside", _care_alongside_fits(child, home, residents)),
        ("max_weeks", _within_max_weeks(home, start, end, rules)),
    ]
    return [reason for reason, ok in checks if not ok]


def fit(
    child: ChildProfile,
    home: HomeFacts,
    residents: Sequence[Resident],
    start: date,
    end: date,
    rules: Rules,
) -> FitReason | None:
    """``None`` when the child fits the home, else the first failing reason."""
    reasons = fit_all(child, home, residents, start, end, rules)
    return reasons[0] if reasons else None
