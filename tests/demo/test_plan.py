"""The demo's plan and its region, without a server: a pure function of (seed, first day)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta

import pytest

from coop.demo import ROLES, demo_start, make_plan, months_after
from coop.demo_data import AUTHORITIES, HOMES, UNMET_RISKS
from coop.market.schemas import Postcode
from coop.policy.vocabulary import NEEDS, RISKS

START = date(2025, 12, 1)

GSS = {
    "bedford": "E06000055",
    "cambridgeshire": "E10000003",
    "central-bedfordshire": "E06000056",
    "essex": "E10000012",
    "hertfordshire": "E10000015",
    "luton": "E06000032",
    "norfolk": "E10000020",
    "peterborough": "E06000031",
    "southend-on-sea": "E06000033",
    "suffolk": "E10000029",
    "thurrock": "E06000034",
}


def test_same_seed_and_month_same_plan() -> None:
    a, b = make_plan(1, START), make_plan(1, START)
    assert a == b and a.digest() == b.digest()
    assert make_plan(2, START).digest() != a.digest()
    later = make_plan(1, months_after(START, 1))
    assert later.start == months_after(START, 1) and later.digest() != a.digest()
    with pytest.raises(ValueError):
        make_plan(1, date(2025, 12, 2))


def test_the_demo_starts_twelve_months_back_on_the_first() -> None:
    assert demo_start(date(2026, 12, 1)) == date(2025, 12, 1)
    assert demo_start(date(2026, 3, 17)) == date(2025, 3, 1)
    assert demo_start(date(2027, 1, 31)) == date(2026, 1, 1)


def test_the_region_is_the_east_of_england() -> None:
    assert {a.slug: a.gss_code for a in AUTHORITIES} == GSS
    owners = Counter(h.owner for h in HOMES)
    assert set(owners) == set(GSS)  # every authority has a home
    assert 30 <= len(HOMES) <= 40
    assert owners["essex"] > owners["luton"] and owners["norfolk"] > owners["thurrock"]
    assert len({h.ofsted_urn for h in HOMES}) == len(HOMES)
    pattern = re.compile(Postcode.__metadata__[0].pattern)
    for h in HOMES:
        assert pattern.match(h.postcode), h.postcode
        assert 51.4 < h.latitude < 52.9 and -0.8 < h.longitude < 1.8, h.name
        assert set(h.needs) <= NEEDS and set(h.risks) <= RISKS
        cost = h.weekly_cost_pence
        if h.beds == 2:
            assert 750_000 <= cost <= 800_000, h.name
        elif h.beds == 4:
            assert 480_000 <= cost <= 520_000, h.name
        else:
            assert h.beds == 3 and 520_000 < cost < 750_000, h.name
    # no home takes these: a request with them is unmet demand
    assert not any(set(UNMET_RISKS) & set(h.risks) for h in HOMES)
    assert {r[1] for r in ROLES.values()} == {"suffolk", "norfolk", None}


def test_the_plan_has_a_year_of_every_kind_of_request() -> None:
    plan = make_plan(1, START)
    horizon = months_after(START, 13)
    assert plan.horizon == horizon
    assert all(START <= d.at.date() < horizon for d in plan.demands)
    assert [d.at for d in plan.demands] == sorted(d.at for d in plan.demands)
    assert 200 <= len(plan.demands) <= 500
    assert {d.requester for d in plan.demands} == set(GSS)
    assert Counter(d.urgency for d in plan.demands).keys() == {"today", "within_5_days", "planned"}
    for d in plan.demands:
        assert d.end_date > d.start_date >= d.at.date()
        if d.urgency == "today":
            assert d.start_date == d.at.date()
        elif d.urgency == "within_5_days":
            assert d.start_date <= d.at.date() + timedelta(days=5)
    kinds = Counter(a.kind for d in plan.demands for a in d.answers)
    assert kinds["accept"] > kinds["reject"] > kinds["ignore"] > 0
    assert any(d.withdraw_after_minutes for d in plan.demands)
    assert any(d.cancel_days_before for d in plan.demands)
    assert any(d.ending.early for d in plan.demands)
    assert any(set(UNMET_RISKS) & set(d.child.risks_to_others) for d in plan.demands)
    refs = [d.child.ref for d in plan.demands] + [e.child.ref for e in plan.existing]
    assert len(set(refs)) == len(refs)
    # placements that exist on day one: mostly councils' own children, some bought
    own = sum(e.requester == next(h.owner for h in HOMES if h.key == e.home) for e in plan.existing)
    assert 0 < own < len(plan.existing)
    assert all(e.start_date <= START < e.end_date for e in plan.existing)
    held = Counter((e.home, e.label) for e in plan.existing)
    assert max(held.values()) == 1  # one placement per bed
    # beds out of use: for staffing during the year and now, and one refurbishment
    reasons = Counter(o.reason for o in plan.outages)
    assert reasons["staffing"] >= 5 and reasons["maintenance"] >= 1
    assert any(o.begin + timedelta(days=o.days) > months_after(START, 12) for o in plan.outages)


def test_a_stopped_or_failed_load_is_told_apart_from_a_bug() -> None:
    """SIGTERM's SystemExit (and a load's own failure) reach `coop demo` wrapped in the app's
    exception groups: the command finds them there and says the directory is half-loaded."""
    from coop.demo import DemoError, _found

    failed = DemoError("the 2026-03 settlement run did not complete")
    group = BaseExceptionGroup("outer", [ExceptionGroup("inner", [ValueError(), failed])])
    assert _found(group, (DemoError,)) is failed
    stop = SystemExit(0)
    assert _found(BaseExceptionGroup("g", [stop]), (SystemExit, KeyboardInterrupt)) is stop
    assert _found(ValueError("a bug"), (DemoError, SystemExit, KeyboardInterrupt)) is None
