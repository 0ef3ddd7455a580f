"""Money is integer pence; every rounding is half-up to the penny, in integer arithmetic.

SPEC §3: price steps are "each rounded half-up to the penny"; the charge for d days at weekly
rate W is ``round_half_up(W × d / 7)``, computed per charge line, never by summing rounded
daily rates. No float ever touches an amount.
"""

from __future__ import annotations

BP_PER_UNIT = 10_000  # basis points in 1 (100 %)


def _whole(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")


def round_half_up_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-up to an integer, exactly (``2.5 → 3``)."""
    _whole("numerator", numerator)
    _whole("denominator", denominator)
    if denominator == 0:
        raise ValueError("denominator must be positive")
    return (2 * numerator + denominator) // (2 * denominator)


def apply_bp(amount_pence: int, bp: int) -> int:
    """``amount × (1 + bp / 10000)``, rounded half-up to the penny (500 bp = +5 %)."""
    _whole("amount_pence", amount_pence)
    _whole("bp", bp)
    return round_half_up_div(amount_pence * (BP_PER_UNIT + bp), BP_PER_UNIT)


def charge(weekly_rate_pence: int, days: int) -> int:
    """The charge for ``days`` days at a weekly rate: ``round_half_up(W × d / 7)`` pence."""
    _whole("weekly_rate_pence", weekly_rate_pence)
    _whole("days", days)
    return round_half_up_div(weekly_rate_pence * days, 7)
