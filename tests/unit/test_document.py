from datetime import timedelta

import msgspec
import pytest

from coop.policy.document import (
    Ceiling,
    OfferHold,
    PolicyDocument,
    Pricing,
    Priority,
    Rules,
    home_window,
    offer_hold,
    validate_policy,
)

SPEC_DEFAULTS = {
    "priority": {
        "home_window": "PT48H",
        "today_skips_home_window": True,
        "offer_hold": {"today": "PT4H", "within_5_days": "PT24H", "planned": "PT48H"},
        "ranking": ["home_authority", "urgency", "membership", "submitted_at"],
    },
    "pricing": {
        "margin_bp": 500,
        "associate_surcharge_bp": 1500,
        "emergency_premium_bp": 1000,
        "ceiling_weekly_pence": {"solo": 900000, "dual": 800000, "multi": 650000},
        "home_authority_charge": "none",
        "cancellation_notice_days": 7,
        "early_end_notice_days": 28,
        "spot_benchmark_weekly_pence": 768800,
    },
    "rules": {
        "max_weeks": {"assessment": 20, "solo": 26},
        "min_ofsted_rating_to_publish": "requires_improvement",
    },
}


def test_default_policy_is_the_spec():
    assert msgspec.to_builtins(PolicyDocument()) == SPEC_DEFAULTS
    assert validate_policy(PolicyDocument()) == []


def test_defaults_are_not_shared_between_documents():
    a, b = PolicyDocument(), PolicyDocument()
    a.priority.ranking.reverse()
    a.rules.max_weeks["multi"] = 1
    assert b.priority.ranking[0] == "home_authority"
    assert "multi" not in b.rules.max_weeks


def test_decoding_round_trips_and_fills_defaults():
    doc = msgspec.json.decode(msgspec.json.encode(PolicyDocument()), type=PolicyDocument)
    assert doc == PolicyDocument()
    partial = msgspec.convert({"pricing": {"margin_bp": 700}}, PolicyDocument)
    assert partial.pricing.margin_bp == 700
    assert partial.pricing.associate_surcharge_bp == 1500
    assert partial.priority == Priority()


@pytest.mark.parametrize(
    "raw",
    [
        {"prority": {}},
        {"priority": {"home_windw": "PT1H"}},
        {"priority": {"offer_hold": {"tomorrow": "PT1H"}}},
        {"pricing": {"margin": 500}},
        {"pricing": {"ceiling_weekly_pence": {"quad": 1}}},
        {"rules": {"min_rating": "good"}},
    ],
)
def test_unknown_keys_are_validation_errors(raw):
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(raw, PolicyDocument)


@pytest.mark.parametrize(
    "raw",
    [
        {"pricing": {"home_authority_charge": "full"}},
        {"rules": {"min_ofsted_rating_to_publish": "excellent"}},
        {"pricing": {"margin_bp": 5.5}},
    ],
)
def test_wrong_types_are_validation_errors(raw):
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(raw, PolicyDocument)


def _problems(**parts) -> dict[str, str]:
    return dict(validate_policy(PolicyDocument(**parts)))


@pytest.mark.parametrize("text", ["PT1M", "P1D", "P1W"])
def test_valid_offer_holds(text):
    assert _problems(priority=Priority(offer_hold=OfferHold(today=text))) == {}


@pytest.mark.parametrize("text", ["PT0S", "P0D", "P1Y", "PT1.5H", "soon", "-PT1H"])
def test_offer_hold_must_parse_and_be_positive(text):
    problems = _problems(priority=Priority(offer_hold=OfferHold(planned=text)))
    assert list(problems) == ["priority.offer_hold.planned"]


def test_home_window_may_be_zero():
    assert _problems(priority=Priority(home_window="PT0S")) == {}
    assert home_window(PolicyDocument(priority=Priority(home_window="PT0S"))) == timedelta(0)


def test_home_window_must_parse():
    assert list(_problems(priority=Priority(home_window="P1M"))) == ["priority.home_window"]


@pytest.mark.parametrize(
    "ranking",
    [
        ["urgency", "membership", "submitted_at"],
        ["home_authority", "urgency", "membership", "submitted_at", "urgency"],
        ["home_authority", "urgency", "urgency", "submitted_at"],
        ["home_authority", "urgency", "membership", "created_at"],
        [],
    ],
)
def test_ranking_must_be_a_permutation_of_the_four_keys(ranking):
    assert list(_problems(priority=Priority(ranking=ranking))) == ["priority.ranking"]


def test_any_permutation_of_ranking_is_valid():
    ranking = ["submitted_at", "membership", "urgency", "home_authority"]
    assert _problems(priority=Priority(ranking=ranking)) == {}


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("margin_bp", 0, True),
        ("margin_bp", 100_000, True),
        ("margin_bp", 100_001, False),
        ("margin_bp", -1, False),
        ("associate_surcharge_bp", -5, False),
        ("emergency_premium_bp", 200_000, False),
        ("cancellation_notice_days", 0, True),
        ("cancellation_notice_days", 365, True),
        ("cancellation_notice_days", 366, False),
        ("early_end_notice_days", -1, False),
        ("spot_benchmark_weekly_pence", 1, True),
        ("spot_benchmark_weekly_pence", 0, False),
    ],
)
def test_pricing_ranges(field, value, ok):
    problems = _problems(pricing=Pricing(**{field: value}))
    assert problems == {} if ok else list(problems) == [f"pricing.{field}"]


@pytest.mark.parametrize("home_type", ["solo", "dual", "multi"])
def test_ceilings_must_be_positive(home_type):
    ceiling = Ceiling(**{home_type: 0})
    problems = _problems(pricing=Pricing(ceiling_weekly_pence=ceiling))
    assert list(problems) == [f"pricing.ceiling_weekly_pence.{home_type}"]


def test_home_authority_charge_must_be_none():
    problems = _problems(pricing=Pricing(home_authority_charge="full"))  # type: ignore[arg-type]
    assert list(problems) == ["pricing.home_authority_charge"]


@pytest.mark.parametrize(
    ("max_weeks", "bad"),
    [
        ({"emergency": 1, "long_term": 520, "dual": 52, "multi": 1}, []),
        ({"short_term": 4}, ["rules.max_weeks.short_term"]),
        ({"assessment": 0}, ["rules.max_weeks.assessment"]),
        ({"solo": 521}, ["rules.max_weeks.solo"]),
        ({}, []),
    ],
)
def test_max_weeks(max_weeks, bad):
    assert list(_problems(rules=Rules(max_weeks=max_weeks))) == bad


@pytest.mark.parametrize(
    ("rating", "ok"),
    [
        ("outstanding", True),
        ("good", True),
        ("requires_improvement", True),
        ("inadequate", False),
        ("not_yet_inspected", False),
    ],
)
def test_min_rating_to_publish_is_a_graded_rating(rating, ok):
    problems = _problems(rules=Rules(min_ofsted_rating_to_publish=rating))
    assert problems == {} if ok else list(problems) == ["rules.min_ofsted_rating_to_publish"]


def test_every_problem_is_reported():
    doc = PolicyDocument(
        priority=Priority(home_window="x", offer_hold=OfferHold(today="PT0S"), ranking=[]),
        pricing=Pricing(margin_bp=-1, ceiling_weekly_pence=Ceiling(multi=0)),
        rules=Rules(max_weeks={"forever": 1}),
    )
    assert [path for path, _ in validate_policy(doc)] == [
        "priority.home_window",
        "priority.offer_hold.today",
        "priority.ranking",
        "pricing.margin_bp",
        "pricing.ceiling_weekly_pence.multi",
        "rules.max_weeks.forever",
    ]
    assert all(message for _, message in validate_policy(doc))


def test_accessors():
    doc = PolicyDocument()
    assert home_window(doc) == timedelta(hours=48)
    assert offer_hold(doc, "today") == timedelta(hours=4)
    assert offer_hold(doc, "within_5_days") == timedelta(hours=24)
    assert offer_hold(doc, "planned") == timedelta(hours=48)
