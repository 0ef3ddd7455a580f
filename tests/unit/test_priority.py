from datetime import UTC, datetime, timedelta

import pytest

from coop.policy.document import Priority
from coop.policy.priority import decide_at, home_priority_until

PUBLISHED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
UNTIL = PUBLISHED + timedelta(hours=48)
OWNER = "cambridgeshire"


def _decide(created_at, requester="suffolk", urgency="planned", until=UNTIL, **kw):
    return decide_at(
        created_at=created_at,
        requester=requester,
        owner=OWNER,
        urgency=urgency,
        home_priority_until=until,
        priority=Priority(**kw),
    )


def test_home_priority_until_is_published_plus_home_window():
    assert home_priority_until(PUBLISHED, Priority()) == UNTIL
    assert home_priority_until(PUBLISHED, Priority(home_window="PT0S")) == PUBLISHED
    assert home_priority_until(PUBLISHED, Priority(home_window="P1W")) == PUBLISHED + timedelta(
        days=7
    )


@pytest.mark.parametrize("urgency", ["today", "within_5_days", "planned"])
def test_owner_is_decided_at_once(urgency):
    created = PUBLISHED + timedelta(hours=1)
    assert _decide(created, requester=OWNER, urgency=urgency) == created
    assert _decide(created, requester=OWNER, today_skips_home_window=False) == created


@pytest.mark.parametrize("urgency", ["within_5_days", "planned"])
def test_others_wait_for_the_home_window(urgency):
    created = PUBLISHED + timedelta(hours=1)
    assert _decide(created, urgency=urgency) == UNTIL


def test_today_skips_the_home_window():
    created = PUBLISHED + timedelta(hours=1)
    assert _decide(created, urgency="today") == created


def test_today_waits_when_the_policy_says_so():
    created = PUBLISHED + timedelta(hours=1)
    assert _decide(created, urgency="today", today_skips_home_window=False) == UNTIL


def test_after_the_window_decide_at_is_creation():
    created = UNTIL + timedelta(minutes=1)
    assert _decide(created) == created
    assert _decide(UNTIL) == UNTIL


def test_no_void_means_no_window():
    created = PUBLISHED + timedelta(hours=1)
    assert _decide(created, until=None) == created
