"""Net positions and the transfers that settle them (SPEC §4 "Settlement").

Each charge line makes its seller owed money by its buyer. :func:`net_positions` adds the lines
up per authority (positive = is owed money); :func:`settle` turns the positions into a short
list of transfers: at most n−1 for n authorities with a non-zero position, each debtor only
paying and each creditor only receiving. The matching is greedy and deterministic — the
largest debt against the largest credit, ties broken by slug — so the same positions always
give the same transfers.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

import msgspec


class Transfer(msgspec.Struct, frozen=True):
    """One payment that settles part of the positions: ``from`` pays ``to``."""

    from_: str = msgspec.field(name="from")
    to: str
    amount_pence: int


def net_positions(lines: Iterable[tuple[str, str, int]]) -> dict[str, int]:
    """(seller, buyer, amount_pence) triples -> authority -> net pence (positive = is owed money).
    Authorities whose net is 0 still appear if they took part."""
    positions: dict[str, int] = {}
    for seller, buyer, amount_pence in lines:
        _pence(amount_pence)
        positions[seller] = positions.get(seller, 0) + amount_pence
        positions[buyer] = positions.get(buyer, 0) - amount_pence
    return dict(sorted(positions.items()))


def settle(positions: Mapping[str, int]) -> list[Transfer]:
    """Transfers that bring every position to zero: at most n-1 transfers for n non-zero positions,
    no authority both pays and receives (debtors only pay, creditors only receive). Deterministic:
    greedy — repeatedly match the largest debtor with the largest creditor (ties broken by slug),
    transfer min(|debt|, credit). Raises ValueError if the positions do not sum to zero."""
    for amount in positions.values():
        _pence(amount)
    total = sum(positions.values())
    if total != 0:
        raise ValueError(f"positions sum to {total} pence, not zero")
    # max-heaps by amount, then the smaller slug first
    debtors = [(amount, slug) for slug, amount in positions.items() if amount < 0]
    creditors = [(-amount, slug) for slug, amount in positions.items() if amount > 0]
    heapq.heapify(debtors)
    heapq.heapify(creditors)
    transfers: list[Transfer] = []
    while debtors and creditors:
        debt, debtor = heapq.heappop(debtors)
        credit, creditor = heapq.heappop(creditors)
        amount = min(-debt, -credit)
        transfers.append(Transfer(debtor, creditor, amount))
        if debt + amount < 0:
            heapq.heappush(debtors, (debt + amount, debtor))
        if credit + amount < 0:
            heapq.heappush(creditors, (credit + amount, creditor))
    return transfers


def _pence(value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"amounts are integer pence, got {type(value).__name__}")
