from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coop.policy.ranking import DEFAULT_ORDER, RankInput, rank, rank_key

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
OWNER = "cambridgeshire"


def _b(id, requester="suffolk", urgency="planned", membership="member", minutes=0):
    return RankInput(
        id=id,
        requester=requester,
        urgency=urgency,
        membership=membership,
        created_at=T0 + timedelta(minutes=minutes),
    )


def _ids(bookings, **kw):
    return [b.id for b in rank(bookings, bed_owner=OWNER, **kw)]


def test_default_order_is_the_policy_default():
    assert DEFAULT_ORDER == ("home_authority", "urgency", "membership", "submitted_at")


def test_owner_first_even_when_later_and_less_urgent():
    owner = _b("z", requester=OWNER, urgency="planned", minutes=60)
    other = _b("a", urgency="today", minutes=0)
    assert _ids([other, owner]) == ["z", "a"]


def test_urgency_order():
    bookings = [
        _b("p", urgency="planned"),
        _b("t", urgency="today"),
        _b("w", urgency="within_5_days"),
    ]
    assert _ids(bookings) == ["t", "w", "p"]


def test_member_before_associate_before_suspended():
    bookings = [_b("s", membership="suspended"), _b("a", membership="associate"), _b("m")]
    assert _ids(bookings) == ["m", "a", "s"]


def test_urgency_beats_membership():
    assert _ids([_b("m"), _b("a", membership="associate", urgency="today")]) == ["a", "m"]


def test_membership_beats_time():
    assert _ids([_b("a", membership="associate", minutes=0), _b("m", minutes=5)]) == ["m", "a"]


def test_earlier_created_at_first():
    assert _ids([_b("late", minutes=5), _b("early", minutes=1)]) == ["early", "late"]


def test_id_breaks_ties():
    assert _ids([_b("b"), _b("a")]) == ["a", "b"]
    assert rank_key(_b("a"), bed_owner=OWNER)[-1] == "a"


def test_key_components_follow_the_order():
    b = _b("x", urgency="within_5_days", membership="associate")
    assert rank_key(b, bed_owner=OWNER) == (1, 1, 1, b.created_at, "x")
    order = ["submitted_at", "membership", "urgency", "home_authority"]
    assert rank_key(b, bed_owner=OWNER, order=order) == (b.created_at, 1, 1, 1, "x")


def test_a_policy_order_can_put_time_first():
    order = ["submitted_at", "home_authority", "urgency", "membership"]
    early = _b("early", minutes=0)
    owner = _b("owner", requester=OWNER, minutes=5)
    assert _ids([owner, early], order=order) == ["early", "owner"]


def test_unknown_ranking_key_is_refused():
    with pytest.raises(ValueError, match="seniority"):
        rank_key(_b("x"), bed_owner=OWNER, order=["seniority"])


requesters = st.sampled_from([OWNER, "suffolk", "norfolk"])
urgencies = st.sampled_from(["today", "within_5_days", "planned"])
memberships = st.sampled_from(["member", "associate", "suspended"])
bookings = st.builds(
    RankInput,
    id=st.text("abcdef0123", min_size=1, max_size=4),
    requester=requesters,
    urgency=urgencies,
    membership=memberships,
    created_at=st.integers(0, 50).map(lambda m: T0 + timedelta(minutes=m)),
)
distinct = st.lists(bookings, max_size=12, unique_by=lambda b: b.id)
orders = st.permutations(list(DEFAULT_ORDER))


@settings(max_examples=200)
@given(distinct, orders, st.randoms(use_true_random=False))
def test_ranking_is_a_total_order(items, order, rnd):
    keys = [rank_key(b, bed_owner=OWNER, order=order) for b in items]
    assert len(set(keys)) == len(items)
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert rank(shuffled, bed_owner=OWNER, order=order) == rank(items, bed_owner=OWNER, order=order)


@settings(max_examples=200)
@given(bookings, bookings)
def test_default_order_rules(a, b):
    ranked = rank([a, b], bed_owner=OWNER)
    if a.id == b.id:
        return
    a_owner, b_owner = a.requester == OWNER, b.requester == OWNER
    if a_owner != b_owner:
        assert ranked[0] is (a if a_owner else b)
        return
    if a.urgency != b.urgency and {a.urgency, b.urgency} == {"today", "planned"}:
        assert ranked[0].urgency == "today"
    if a.urgency == b.urgency and {a.membership, b.membership} == {"member", "associate"}:
        assert ranked[0].membership == "member"
    if (a.urgency, a.membership) == (b.urgency, b.membership) and a.created_at != b.created_at:
        assert ranked[0].created_at < ranked[1].created_at
