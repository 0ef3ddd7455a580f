"""The spec's code lists (SPEC §2), as ``Literal`` types for msgspec and frozensets for checks.

Every code the API accepts or returns is named here once. A value outside these lists is a
validation error (422) wherever it arrives.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final, Literal, get_args

Membership = Literal["member", "associate", "suspended"]
OfstedRating = Literal[
    "outstanding", "good", "requires_improvement", "inadequate", "not_yet_inspected"
]
Operator = Literal["in_house", "commissioned", "vcs_partnership"]
Purpose = Literal["emergency", "assessment", "long_term"]
HomeGender = Literal["mixed", "male", "female"]
HomeStatus = Literal["open", "closed"]
BedStatus = Literal["in_use", "out_of_use"]
OutOfUseReason = Literal["staffing", "ofsted_restriction", "matching", "maintenance"]
HomeType = Literal["solo", "dual", "multi"]
Urgency = Literal["today", "within_5_days", "planned"]
ChildGender = Literal["male", "female", "other"]
CareAlongside = Literal["solo", "with_others", "only_older", "only_younger", "no_preference"]
Need = Literal[
    "semh",
    "autism",
    "learning_disability",
    "disability",
    "mh_step_down",
    "trauma_attachment",
    "communication",
]
RiskToSelf = Literal[
    "self_harm",
    "sexual_exploitation",
    "criminal_exploitation",
    "substance_use",
    "eating_disorder",
    "going_missing",
]
RiskToOthers = Literal[
    "physical_harm", "sexual_harm", "fire_setting", "harm_to_animals", "criminal_exploitation"
]
#: A home's ``risks_managed`` lists codes from both families (``criminal_exploitation`` is in both).
Risk = Literal[RiskToSelf, RiskToOthers]

MEMBERSHIPS: Final = frozenset(get_args(Membership))
OFSTED_RATINGS: Final = frozenset(get_args(OfstedRating))
OPERATORS: Final = frozenset(get_args(Operator))
PURPOSES: Final = frozenset(get_args(Purpose))
HOME_GENDERS: Final = frozenset(get_args(HomeGender))
HOME_STATUSES: Final = frozenset(get_args(HomeStatus))
BED_STATUSES: Final = frozenset(get_args(BedStatus))
OUT_OF_USE_REASONS: Final = frozenset(get_args(OutOfUseReason))
HOME_TYPES: Final = frozenset(get_args(HomeType))
URGENCIES: Final = frozenset(get_args(Urgency))
CHILD_GENDERS: Final = frozenset(get_args(ChildGender))
CARE_ALONGSIDE: Final = frozenset(get_args(CareAlongside))
NEEDS: Final = frozenset(get_args(Need))
RISKS_TO_SELF: Final = frozenset(get_args(RiskToSelf))
RISKS_TO_OTHERS: Final = frozenset(get_args(RiskToOthers))
RISKS: Final = RISKS_TO_SELF | RISKS_TO_OTHERS


def home_type_for(beds: int) -> HomeType:
    """A home's type from its registered capacity (its number of beds): ``solo`` (1 bed),
    ``dual`` (2), ``multi`` (3 or more). Fewer than one bed is a ValueError."""
    if beds < 1:
        raise ValueError(f"a home has at least one bed, got {beds}")
    if beds == 1:
        return "solo"
    if beds == 2:
        return "dual"
    return "multi"


#: Rank of each Ofsted rating, higher is better. ``not_yet_inspected`` (a new home) ranks with
#: ``requires_improvement``: it meets a minimum of ``requires_improvement`` or lower, but not
#: ``good`` or ``outstanding`` — a judgement it has not yet been given.
RATING_ORDER: Final = MappingProxyType(
    {
        "outstanding": 3,
        "good": 2,
        "requires_improvement": 1,
        "not_yet_inspected": 1,
        "inadequate": 0,
    }
)


def rating_at_least(rating: OfstedRating, minimum: OfstedRating) -> bool:
    """True when ``rating`` meets ``minimum``: outstanding > good > requires_improvement >
    inadequate, with ``not_yet_inspected`` level with ``requires_improvement``."""
    try:
        return RATING_ORDER[rating] >= RATING_ORDER[minimum]
    except KeyError as exc:
        raise ValueError(f"unknown Ofsted rating {exc.args[0]!r}") from None
