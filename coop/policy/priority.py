"""When a pending booking may be decided (SPEC §3 "Allocation" and the home window).

A void's ``home_priority_until`` is ``published_at + home_window``: until then only the owner
can be offered it. A booking's ``decide_at`` is its creation time for the owner and, when
``today_skips_home_window``, for ``today`` requests; otherwise
``max(created_at, home_priority_until)``.
"""

from __future__ import annotations

from datetime import datetime

from coop.policy.document import Priority
from coop.policy.durations import parse_duration
from coop.policy.vocabulary import Urgency


def home_priority_until(published_at: datetime, priority: Priority) -> datetime:
    """The end of a void's home window: ``published_at + home_window``."""
    return published_at + parse_duration(priority.home_window)


def decide_at(
    *,
    created_at: datetime,
    requester: str,
    owner: str,
    urgency: Urgency,
    home_priority_until: datetime | None,
    priority: Priority,
) -> datetime:
    """The earliest time allocation may consider this booking."""
    if requester == owner:
        return created_at
    if urgency == "today" and priority.today_skips_home_window:
        return created_at
    if home_priority_until is None:
        return created_at
    return max(created_at, home_priority_until)
