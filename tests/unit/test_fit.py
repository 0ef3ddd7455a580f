from datetime import date, timedelta
from typing import get_args

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coop.policy.document import Rules
from coop.policy.fit import ChildProfile, FitReason, HomeFacts, Resident, fit, fit_all
from coop.policy.vocabulary import NEEDS, RISKS, RISKS_TO_OTHERS, RISKS_TO_SELF

START = date(2025, 4, 1)
END = START + timedelta(weeks=4)
RULES = Rules()


def _child(**kw):
    return ChildProfile(**{"ref": "C-1", "age": 13, "gender": "female", **kw})


def _home(**kw):
    base = dict(
        age_min=11,
        age_max=17,
        gender="mixed",
        needs_supported=frozenset({"semh", "autism"}),
        risks_managed=frozenset({"self_harm", "going_missing", "physical_harm"}),
        accepts_dols=False,
        home_type="multi",
        purpose="long_term",
        status="open",
    )
    return HomeFacts(**{**base, **kw})


def _fit(child=None, home=None, residents=(), start=START, end=END, rules=RULES):
    return fit(child or _child(), home or _home(), list(residents), start, end, rules)


def test_a_child_who_fits():
    assert _fit() is None
    assert fit_all(_child(), _home(), [], START, END, RULES) == []


def test_reason_order():
    assert get_args(FitReason) == (
        "home_closed",
        "age",
        "gender",
        "needs",
        "risks",
        "dols",
        "care_alongside",
        "max_weeks",
    )


def test_closed_home():
    assert _fit(home=_home(status="closed")) == "home_closed"


@pytest.mark.parametrize(("age", "ok"), [(10, False), (11, True), (17, True), (18, False)])
def test_age_range_is_inclusive(age, ok):
    assert _fit(_child(age=age)) == (None if ok else "age")


@pytest.mark.parametrize(
    ("child", "home", "ok"),
    [
        ("male", "mixed", True),
        ("female", "mixed", True),
        ("other", "mixed", True),
        ("male", "male", True),
        ("female", "male", False),
        ("other", "male", False),
        ("female", "female", True),
        ("male", "female", False),
        ("other", "female", False),
    ],
)
def test_gender(child, home, ok):
    assert _fit(_child(gender=child), _home(gender=home)) == (None if ok else "gender")


def test_every_need_must_be_supported():
    assert _fit(_child(needs=["semh", "autism"])) is None
    assert _fit(_child(needs=["semh", "mh_step_down"])) == "needs"


def test_every_risk_must_be_managed():
    assert _fit(_child(risks_to_self=["self_harm"], risks_to_others=["physical_harm"])) is None
    assert _fit(_child(risks_to_self=["substance_use"])) == "risks"
    assert _fit(_child(risks_to_others=["fire_setting"])) == "risks"


def test_criminal_exploitation_is_checked_in_both_families():
    home = _home(risks_managed=frozenset({"criminal_exploitation"}))
    assert _fit(_child(risks_to_self=["criminal_exploitation"]), home) is None
    assert _fit(_child(risks_to_others=["criminal_exploitation"]), home) is None


def test_dols_only_where_accepted():
    assert _fit(_child(dols=True)) == "dols"
    assert _fit(_child(dols=True), _home(accepts_dols=True)) is None
    assert _fit(_child(dols=False), _home(accepts_dols=True)) is None


@pytest.mark.parametrize(
    ("wish", "home_type", "ok"),
    [
        ("solo", "solo", True),
        ("solo", "dual", False),
        ("solo", "multi", False),
        ("with_others", "solo", False),
        ("with_others", "dual", True),
        ("with_others", "multi", True),
        ("no_preference", "solo", True),
        ("no_preference", "multi", True),
    ],
)
def test_care_alongside_and_home_type(wish, home_type, ok):
    home = _home(home_type=home_type)
    assert _fit(_child(care_alongside=wish), home) == (None if ok else "care_alongside")


@pytest.mark.parametrize(
    ("wish", "ages", "ok"),
    [
        ("only_older", [], True),
        ("only_older", [14, 16], True),
        ("only_older", [14, 13], False),
        ("only_older", [12], False),
        ("only_younger", [], True),
        ("only_younger", [11, 12], True),
        ("only_younger", [12, 13], False),
        ("only_younger", [15], False),
        ("no_preference", [5, 13, 17], True),
    ],
)
def test_care_alongside_residents(wish, ages, ok):
    residents = [Resident(age=a) for a in ages]
    result = _fit(_child(age=13, care_alongside=wish), residents=residents)
    assert result == (None if ok else "care_alongside")


def test_max_weeks_by_purpose():
    home = _home(purpose="assessment")
    assert _fit(home=home, end=START + timedelta(weeks=20)) is None
    assert _fit(home=home, end=START + timedelta(weeks=20, days=1)) == "max_weeks"


def test_max_weeks_by_home_type():
    home = _home(home_type="solo")
    assert _fit(home=home, end=START + timedelta(weeks=26)) is None
    assert _fit(home=home, end=START + timedelta(weeks=26, days=1)) == "max_weeks"


def test_max_weeks_uses_the_stricter_of_purpose_and_home_type():
    home = _home(purpose="assessment", home_type="solo")
    assert _fit(home=home, end=START + timedelta(weeks=21)) == "max_weeks"
    rules = Rules(max_weeks={"assessment": 30, "solo": 10})
    assert _fit(home=home, end=START + timedelta(weeks=11), rules=rules) == "max_weeks"


def test_no_max_weeks_for_unlisted_keys():
    assert _fit(end=START + timedelta(weeks=520)) is None
    assert _fit(home=_home(purpose="emergency"), end=START + timedelta(weeks=520)) is None
    rules = Rules(max_weeks={"emergency": 1})
    home = _home(purpose="emergency")
    assert _fit(home=home, end=START + timedelta(days=8), rules=rules) == "max_weeks"


def test_empty_period_is_refused():
    with pytest.raises(ValueError):
        _fit(end=START)


def test_first_reason_and_all_reasons():
    child = _child(age=9, gender="male", needs=["disability"], dols=True, care_alongside="solo")
    home = _home(gender="female", status="closed", purpose="assessment")
    end = START + timedelta(weeks=30)
    everything = ["home_closed", "age", "gender", "needs", "dols", "care_alongside", "max_weeks"]
    assert fit_all(child, home, [], START, end, RULES) == everything
    assert fit(child, home, [], START, end, RULES) == "home_closed"
    assert fit(child, _home(gender="female", purpose="assessment"), [], START, end, RULES) == "age"


@pytest.mark.parametrize(
    "raw",
    [
        {"ref": "", "age": 1, "gender": "male"},
        {"ref": "x" * 65, "age": 1, "gender": "male"},
        {"ref": "r", "age": -1, "gender": "male"},
        {"ref": "r", "age": 26, "gender": "male"},
        {"ref": "r", "age": 1, "gender": "boy"},
        {"ref": "r", "age": 1, "gender": "male", "needs": ["telepathy"]},
        {"ref": "r", "age": 1, "gender": "male", "risks_to_self": ["fire_setting"]},
        {"ref": "r", "age": 1, "gender": "male", "risks_to_others": ["self_harm"]},
        {"ref": "r", "age": 1, "gender": "male", "care_alongside": "alone"},
        {"ref": "r", "age": 1, "gender": "male", "home_latitude": 91.0},
        {"ref": "r", "age": 1, "gender": "male", "home_longitude": -181.0},
        {"ref": "r", "age": 1, "gender": "male", "name": "Alex"},
    ],
)
def test_child_profile_validation(raw):
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(raw, ChildProfile)


def test_child_profile_defaults():
    child = msgspec.convert(
        {"ref": "x" * 64, "age": 0, "gender": "other", "home_latitude": 52.2}, ChildProfile
    )
    assert (child.needs, child.risks_to_self, child.risks_to_others) == ([], [], [])
    assert (child.dols, child.care_alongside, child.home_longitude) == (
        False,
        "no_preference",
        None,
    )


def _subset(pool):
    return st.frozensets(st.sampled_from(sorted(pool)))


children = st.builds(
    ChildProfile,
    ref=st.just("C"),
    age=st.integers(0, 25),
    gender=st.sampled_from(["male", "female", "other"]),
    needs=st.lists(st.sampled_from(sorted(NEEDS)), max_size=3),
    risks_to_self=st.lists(st.sampled_from(sorted(RISKS_TO_SELF)), max_size=3),
    risks_to_others=st.lists(st.sampled_from(sorted(RISKS_TO_OTHERS)), max_size=3),
    dols=st.booleans(),
    care_alongside=st.sampled_from(
        ["solo", "with_others", "only_older", "only_younger", "no_preference"]
    ),
)
homes = st.builds(
    HomeFacts,
    age_min=st.integers(0, 12),
    age_max=st.integers(10, 25),
    gender=st.sampled_from(["mixed", "male", "female"]),
    needs_supported=_subset(NEEDS),
    risks_managed=_subset(RISKS),
    accepts_dols=st.booleans(),
    home_type=st.sampled_from(["solo", "dual", "multi"]),
    purpose=st.sampled_from(["emergency", "assessment", "long_term"]),
    status=st.sampled_from(["open", "closed"]),
)
residents = st.lists(st.builds(Resident, age=st.integers(0, 25)), max_size=3)
lengths = st.integers(1, 7 * 40)


@settings(max_examples=300)
@given(children, homes, residents, lengths)
def test_fit_is_the_first_of_fit_all(child, home, res, days):
    end = START + timedelta(days=days)
    reasons = fit_all(child, home, res, START, end, RULES)
    assert set(reasons) <= set(get_args(FitReason))
    assert reasons == sorted(reasons, key=get_args(FitReason).index)
    result = fit(child, home, res, START, end, RULES)
    assert result == (reasons[0] if reasons else None)


@settings(max_examples=300)
@given(children, homes, residents, lengths, _subset(NEEDS), _subset(RISKS))
def test_more_support_never_breaks_a_fit(child, home, res, days, more_needs, more_risks):
    end = START + timedelta(days=days)
    wider = msgspec.structs.replace(
        home,
        needs_supported=home.needs_supported | more_needs,
        risks_managed=home.risks_managed | more_risks,
        accepts_dols=True,
    )
    before = set(fit_all(child, home, res, START, end, RULES))
    after = set(fit_all(child, wider, res, START, end, RULES))
    assert after <= before
