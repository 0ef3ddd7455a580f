import pytest
from hypothesis import given
from hypothesis import strategies as st

from coop.policy.lifecycle import (
    FINAL,
    OWNER_MOVES,
    REQUESTER_MOVES,
    SYSTEM_MOVES,
    TRANSITIONS,
    InvalidTransition,
    allowed_moves,
    next_status,
)

STATUSES = sorted({s for s, _ in TRANSITIONS} | set(TRANSITIONS.values()))
MOVES = sorted({m for _, m in TRANSITIONS})


def test_the_spec_diagram():
    path = ["offer", "accept", "start", "end"]
    status = "pending"
    for move in path:
        status = next_status(status, move)
    assert status == "ended"
    assert next_status("offered", "reject") == "declined"
    assert next_status("offered", "expire_offer") == "declined"
    assert next_status("confirmed", "cancel") == "cancelled"
    assert next_status("pending", "withdraw") == next_status("offered", "withdraw") == "withdrawn"


@given(st.sampled_from(sorted(FINAL)), st.sampled_from(MOVES))
def test_final_states_have_no_way_out(status, move):
    with pytest.raises(InvalidTransition):
        next_status(status, move)


@given(st.sampled_from(STATUSES), st.sampled_from(MOVES))
def test_every_move_is_listed_or_refused(status, move):
    if (status, move) in TRANSITIONS:
        assert next_status(status, move) == TRANSITIONS[(status, move)]
        assert move in allowed_moves(status)
    else:
        with pytest.raises(InvalidTransition):
            next_status(status, move)


def test_every_move_belongs_to_someone():
    assert set(MOVES) == REQUESTER_MOVES | OWNER_MOVES | SYSTEM_MOVES
    assert not (SYSTEM_MOVES & (REQUESTER_MOVES | OWNER_MOVES))
    assert "cancel" not in OWNER_MOVES  # only the requester cancels
    assert "accept" not in REQUESTER_MOVES  # only the owner accepts
