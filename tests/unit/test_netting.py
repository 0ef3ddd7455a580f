import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coop.policy.netting import Transfer, net_positions, settle


def apply(positions: dict[str, int], transfers: list[Transfer]) -> dict[str, int]:
    after = dict(positions)
    for t in transfers:
        after[t.from_] += t.amount_pence  # the payer's debt shrinks
        after[t.to] -= t.amount_pence  # the payee is owed less
    return after


# --- examples ---


def test_net_positions():
    lines = [("york", "leeds", 1_000), ("york", "hull", 500), ("leeds", "york", 300)]
    assert net_positions(lines) == {"hull": -500, "leeds": -700, "york": 1_200}
    assert net_positions([]) == {}


def test_authorities_that_net_to_zero_still_appear():
    assert net_positions([("york", "leeds", 100), ("leeds", "york", 100)]) == {
        "leeds": 0,
        "york": 0,
    }


def test_adjustments_may_be_negative():
    assert net_positions([("york", "leeds", 100), ("york", "leeds", -40)]) == {
        "leeds": -60,
        "york": 60,
    }


def test_settle_greedy_largest_first():
    positions = {"york": 1_200, "leeds": -700, "hull": -500}
    assert settle(positions) == [
        Transfer("leeds", "york", 700),
        Transfer("hull", "york", 500),
    ]


def test_ties_are_broken_by_slug():
    positions = {"d": 100, "c": 100, "b": -100, "a": -100}
    assert settle(positions) == [Transfer("a", "c", 100), Transfer("b", "d", 100)]
    assert settle(dict(reversed(positions.items()))) == settle(positions)


def test_a_chain_nets_to_one_transfer():
    # york sells to leeds, leeds sells the same to hull: only hull pays, york receives
    positions = net_positions([("york", "leeds", 900), ("leeds", "hull", 900)])
    assert settle(positions) == [Transfer("hull", "york", 900)]


def test_nothing_to_settle():
    assert settle({}) == []
    assert settle({"york": 0, "leeds": 0}) == []


def test_settle_refuses_unbalanced_positions():
    with pytest.raises(ValueError):
        settle({"york": 100, "leeds": -99})


def test_settle_refuses_non_integer_amounts():
    with pytest.raises(TypeError):
        settle({"york": 1.5, "leeds": -1.5})  # type: ignore[dict-item]


def test_transfer_serialises_with_from():
    t = Transfer("leeds", "york", 700)
    assert msgspec.json.encode(t) == b'{"from":"leeds","to":"york","amount_pence":700}'
    assert msgspec.json.decode(msgspec.json.encode(t), type=Transfer) == t


# --- properties ---

slugs = st.text(alphabet="abcdefghij-", min_size=1, max_size=6)
amounts = st.integers(min_value=-(10**12), max_value=10**12)


@st.composite
def balanced(draw) -> dict[str, int]:
    names = draw(st.lists(slugs, min_size=0, max_size=40, unique=True))
    if not names:
        return {}
    values = draw(st.lists(amounts | st.just(0), min_size=len(names) - 1, max_size=len(names) - 1))
    values.append(-sum(values))
    return dict(zip(names, values, strict=True))


PROPERTY = settings(max_examples=300, deadline=None)


@PROPERTY
@given(balanced())
def test_transfers_settle_every_position(positions):
    transfers = settle(positions)
    assert all(v == 0 for v in apply(positions, transfers).values())
    nonzero = sum(1 for v in positions.values() if v != 0)
    assert len(transfers) <= max(0, nonzero - 1)
    assert all(t.amount_pence > 0 for t in transfers)
    payers = {t.from_ for t in transfers}
    payees = {t.to for t in transfers}
    assert not payers & payees
    assert all(positions[p] < 0 for p in payers)
    assert all(positions[p] > 0 for p in payees)
    assert settle(dict(sorted(positions.items(), reverse=True))) == transfers


@PROPERTY
@given(balanced(), st.integers(min_value=1, max_value=10**12) | st.integers(-(10**12), -1))
def test_settle_raises_on_a_non_zero_sum(positions, off):
    unbalanced = dict(positions)
    unbalanced["zz"] = unbalanced.get("zz", 0) + off
    with pytest.raises(ValueError):
        settle(unbalanced)


@PROPERTY
@given(st.lists(st.tuples(slugs, slugs, amounts), max_size=60))
def test_net_positions_sum_to_zero_and_settle(lines):
    positions = net_positions(lines)
    assert sum(positions.values()) == 0
    assert set(positions) == {name for s, b, _ in lines for name in (s, b)}
    assert all(v == 0 for v in apply(positions, settle(positions)).values())
