from typing import get_args

import msgspec
import pytest

from coop.policy import vocabulary as v


def test_code_lists_match_the_spec():
    assert {"member", "associate", "suspended"} == v.MEMBERSHIPS
    assert {
        "outstanding",
        "good",
        "requires_improvement",
        "inadequate",
        "not_yet_inspected",
    } == v.OFSTED_RATINGS
    assert {"in_house", "commissioned", "vcs_partnership"} == v.OPERATORS
    assert {"emergency", "assessment", "long_term"} == v.PURPOSES
    assert {"mixed", "male", "female"} == v.HOME_GENDERS
    assert {"open", "closed"} == v.HOME_STATUSES
    assert {"in_use", "out_of_use"} == v.BED_STATUSES
    assert {"staffing", "ofsted_restriction", "matching", "maintenance"} == v.OUT_OF_USE_REASONS
    assert {"solo", "dual", "multi"} == v.HOME_TYPES
    assert {"today", "within_5_days", "planned"} == v.URGENCIES
    assert {"male", "female", "other"} == v.CHILD_GENDERS
    assert {
        "solo",
        "with_others",
        "only_older",
        "only_younger",
        "no_preference",
    } == v.CARE_ALONGSIDE
    assert {
        "semh",
        "autism",
        "learning_disability",
        "disability",
        "mh_step_down",
        "trauma_attachment",
        "communication",
    } == v.NEEDS
    assert {
        "self_harm",
        "sexual_exploitation",
        "criminal_exploitation",
        "substance_use",
        "eating_disorder",
        "going_missing",
    } == v.RISKS_TO_SELF
    assert {
        "physical_harm",
        "sexual_harm",
        "fire_setting",
        "harm_to_animals",
        "criminal_exploitation",
    } == v.RISKS_TO_OTHERS


def test_risk_is_both_families():
    assert v.RISKS == v.RISKS_TO_SELF | v.RISKS_TO_OTHERS
    assert set(get_args(v.Risk)) == v.RISKS
    assert msgspec.convert(["self_harm", "fire_setting"], list[v.Risk]) == [
        "self_harm",
        "fire_setting",
    ]


def test_unknown_code_is_a_validation_error():
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(["telepathy"], list[v.Need])


@pytest.mark.parametrize(
    ("beds", "home_type"), [(1, "solo"), (2, "dual"), (3, "multi"), (12, "multi")]
)
def test_home_type_for(beds, home_type):
    assert v.home_type_for(beds) == home_type


@pytest.mark.parametrize("beds", [0, -1])
def test_home_type_for_refuses_a_home_without_beds(beds):
    with pytest.raises(ValueError):
        v.home_type_for(beds)


def test_rating_order():
    ladder = ["outstanding", "good", "requires_improvement", "inadequate"]
    for i, higher in enumerate(ladder):
        for lower in ladder[i:]:
            assert v.rating_at_least(higher, lower)
        for better in ladder[:i]:
            assert not v.rating_at_least(higher, better)


@pytest.mark.parametrize(
    ("minimum", "met"),
    [
        ("outstanding", False),
        ("good", False),
        ("requires_improvement", True),
        ("inadequate", True),
        ("not_yet_inspected", True),
    ],
)
def test_not_yet_inspected_meets_requires_improvement_or_lower(minimum, met):
    assert v.rating_at_least("not_yet_inspected", minimum) is met


def test_inadequate_does_not_meet_the_default_minimum():
    assert not v.rating_at_least("inadequate", "requires_improvement")


def test_unknown_rating_is_refused():
    with pytest.raises(ValueError):
        v.rating_at_least("excellent", "good")
