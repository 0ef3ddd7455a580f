"""The booking's state machine (SPEC §2), as data: which move takes which state where.

```
pending ──allocate──> offered ──accept──> confirmed ──start──> active ──end──> ended
   │                     │ reject / hold expires / no longer fits at accept → declined
   ├─ withdraw           ├─ withdraw            confirmed ─cancel─> cancelled
   ├─ decline (no fit, outranked, over budget, policy rule)
   └─ expire (void gone, start date passed)
```

Who may make a move is not decided here: the service checks the caller is the requester
(``REQUESTER_MOVES``) or the bed's owner (``OWNER_MOVES``); ``SYSTEM_MOVES`` are the
allocator's and the jobs'.
"""

from __future__ import annotations

from typing import Literal

Status = Literal[
    "pending",
    "offered",
    "confirmed",
    "active",
    "ended",
    "withdrawn",
    "declined",
    "expired",
    "cancelled",
]
Move = Literal[
    "offer",
    "decline",
    "expire",
    "withdraw",
    "accept",
    "reject",
    "expire_offer",
    "cancel",
    "start",
    "end",
]

TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "offer"): "offered",
    ("pending", "decline"): "declined",
    ("pending", "expire"): "expired",
    ("pending", "withdraw"): "withdrawn",
    ("offered", "accept"): "confirmed",
    ("offered", "reject"): "declined",
    ("offered", "expire_offer"): "declined",
    ("offered", "decline"): "declined",  # at accept the match no longer fits (re-checked)
    ("offered", "withdraw"): "withdrawn",
    ("confirmed", "cancel"): "cancelled",
    ("confirmed", "start"): "active",
    ("active", "end"): "ended",
}

REQUESTER_MOVES = frozenset({"withdraw", "cancel", "end"})
OWNER_MOVES = frozenset({"accept", "reject", "start", "end"})
SYSTEM_MOVES = frozenset({"offer", "decline", "expire", "expire_offer"})

#: moves whose reason becomes the booking's ``status_reason`` (the spec's codes); the others
#: clear it (their why is in the event log)
REASONED_MOVES = frozenset({"decline", "expire", "withdraw", "reject", "expire_offer"})

FINAL = frozenset({"ended", "withdrawn", "declined", "expired", "cancelled"})


class InvalidTransition(Exception):
    def __init__(self, status: str, move: str) -> None:
        super().__init__(f"cannot {move} a booking that is {status}")
        self.status = status
        self.move = move


def next_status(status: str, move: str) -> str:
    """Where ``move`` takes a booking in ``status``; ``InvalidTransition`` if it cannot."""
    try:
        return TRANSITIONS[(status, move)]
    except KeyError:
        raise InvalidTransition(status, move) from None


def allowed_moves(status: str) -> list[str]:
    return sorted(move for (state, move) in TRANSITIONS if state == status)
