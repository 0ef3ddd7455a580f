"""The region policy document (SPEC §3), with the spec's defaults.

``PolicyDocument()`` is the default policy every region starts with. Each Struct forbids
unknown fields, so a typo'd key is a validation error rather than a silently ignored setting.
``validate_policy`` checks the values the types cannot (durations, ranges, the ranking keys).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from msgspec import Struct, field

from coop.policy.durations import parse_duration
from coop.policy.vocabulary import HOME_TYPES, PURPOSES, OfstedRating, Urgency

RANKING_KEYS = ("home_authority", "urgency", "membership", "submitted_at")


class OfferHold(Struct, forbid_unknown_fields=True):
    """How long an owner has to accept an offer, by urgency."""

    today: str = "PT4H"
    within_5_days: str = "PT24H"
    planned: str = "PT48H"


class Priority(Struct, forbid_unknown_fields=True):
    """Who is decided first: the home window, the offer hold and the ranking order."""

    home_window: str = "PT48H"
    today_skips_home_window: bool = True
    offer_hold: OfferHold = field(default_factory=OfferHold)
    ranking: list[str] = field(default_factory=lambda: list(RANKING_KEYS))


class Ceiling(Struct, forbid_unknown_fields=True):
    """The most a member pays per week for a bed, by home type."""

    solo: int = 900_000
    dual: int = 800_000
    multi: int = 650_000


class Pricing(Struct, forbid_unknown_fields=True):
    """Cost plus margin, capped, then surcharges; notice periods; the spot benchmark."""

    margin_bp: int = 500
    associate_surcharge_bp: int = 1500
    emergency_premium_bp: int = 1000
    ceiling_weekly_pence: Ceiling = field(default_factory=Ceiling)
    home_authority_charge: Literal["none"] = "none"
    cancellation_notice_days: int = 7
    early_end_notice_days: int = 28
    spot_benchmark_weekly_pence: int = 768_800


class Rules(Struct, forbid_unknown_fields=True):
    """Longest stays (by purpose or home type) and the rating a home needs to publish voids."""

    max_weeks: dict[str, int] = field(default_factory=lambda: {"assessment": 20, "solo": 26})
    min_ofsted_rating_to_publish: OfstedRating = "requires_improvement"


class PolicyDocument(Struct, forbid_unknown_fields=True):
    """One region's policy; ``PolicyDocument()`` is the default policy."""

    priority: Priority = field(default_factory=Priority)
    pricing: Pricing = field(default_factory=Pricing)
    rules: Rules = field(default_factory=Rules)


MAX_BP = 100_000  # +1000 %: anything larger is a typo, not a policy
MAX_NOTICE_DAYS = 365
MAX_WEEKS_LIMIT = 520  # ten years
PUBLISH_MINIMUMS = ("outstanding", "good", "requires_improvement")


def validate_policy(doc: PolicyDocument) -> list[tuple[str, str]]:
    """Every problem in ``doc`` as ``(field path, message)``; an empty list means valid.

    Durations must parse; offer holds must be longer than zero, ``home_window`` may be zero
    (no home window). Basis points 0..100000, ceilings and the spot benchmark above zero,
    notice days 0..365. ``ranking`` is a permutation of the four ranking keys. ``max_weeks``
    keys are a purpose or a home type, with 1..520 weeks. The minimum rating to publish is a
    graded rating no lower than ``requires_improvement`` (inadequate homes never publish).
    """
    problems: list[tuple[str, str]] = []

    def duration(path: str, text: str, *, allow_zero: bool) -> None:
        try:
            value = parse_duration(text)
        except (ValueError, TypeError) as exc:
            problems.append((path, str(exc)))
            return
        if not allow_zero and value <= timedelta(0):
            problems.append((path, "must be longer than zero"))

    def in_range(path: str, value: int, low: int, high: int | None = None) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append((path, "must be a whole number"))
        elif value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            problems.append((path, f"must be {bounds}, got {value}"))

    priority, pricing, rules = doc.priority, doc.pricing, doc.rules
    duration("priority.home_window", priority.home_window, allow_zero=True)
    for urgency in ("today", "within_5_days", "planned"):
        text = getattr(priority.offer_hold, urgency)
        duration(f"priority.offer_hold.{urgency}", text, allow_zero=False)
    if sorted(priority.ranking) != sorted(RANKING_KEYS):
        problems.append(
            ("priority.ranking", f"must list each of {', '.join(RANKING_KEYS)} exactly once")
        )

    for name in ("margin_bp", "associate_surcharge_bp", "emergency_premium_bp"):
        in_range(f"pricing.{name}", getattr(pricing, name), 0, MAX_BP)
    for home_type in ("solo", "dual", "multi"):
        ceiling = getattr(pricing.ceiling_weekly_pence, home_type)
        in_range(f"pricing.ceiling_weekly_pence.{home_type}", ceiling, 1)
    if pricing.home_authority_charge != "none":
        problems.append(("pricing.home_authority_charge", "must be 'none'"))
    for name in ("cancellation_notice_days", "early_end_notice_days"):
        in_range(f"pricing.{name}", getattr(pricing, name), 0, MAX_NOTICE_DAYS)
    in_range("pricing.spot_benchmark_weekly_pence", pricing.spot_benchmark_weekly_pence, 1)

    for key, weeks in rules.max_weeks.items():
        if key not in PURPOSES and key not in HOME_TYPES:
            problems.append((f"rules.max_weeks.{key}", "must be a purpose or a home type"))
        else:
            in_range(f"rules.max_weeks.{key}", weeks, 1, MAX_WEEKS_LIMIT)
    if rules.min_ofsted_rating_to_publish not in PUBLISH_MINIMUMS:
        problems.append(
            (
                "rules.min_ofsted_rating_to_publish",
                f"must be one of {', '.join(PUBLISH_MINIMUMS)}",
            )
        )
    return problems


def home_window(doc: PolicyDocument) -> timedelta:
    """After publication only the owner can be offered the void for this long."""
    return parse_duration(doc.priority.home_window)


def offer_hold(doc: PolicyDocument, urgency: Urgency) -> timedelta:
    """How long an offer of this urgency waits for the owner's answer."""
    return parse_duration(getattr(doc.priority.offer_hold, urgency))
