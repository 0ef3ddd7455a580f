"""ISO 8601 durations as the policy writes them (SPEC §3: ``PT48H``, ``PT4H``).

Accepted: ``PnW`` or ``PnDTnHnMnS`` with any non-empty subset of the parts, whole numbers only.
Refused: years and months (their length varies), negative durations, fractions, a bare ``P``
or ``PT``, weeks mixed with other parts, lower case and whitespace.
"""

from __future__ import annotations

import re
from datetime import timedelta

_MAX_LENGTH = 64
_DURATION = re.compile(
    r"P(?:(?P<weeks>[0-9]+)W"
    r"|(?:(?P<days>[0-9]+)D)?"
    r"(?:T(?=[0-9])(?:(?P<hours>[0-9]+)H)?(?:(?P<minutes>[0-9]+)M)?(?:(?P<seconds>[0-9]+)S)?)?)"
)


def parse_duration(text: str) -> timedelta:
    """Parse ``PnW`` / ``PnDTnHnMnS`` into a timedelta; anything else is a ValueError."""
    if not isinstance(text, str):
        raise TypeError(f"a duration is a string, got {type(text).__name__}")
    if len(text) > _MAX_LENGTH:
        raise ValueError(f"duration {text[:_MAX_LENGTH]!r}... is too long")
    match = _DURATION.fullmatch(text)
    if match is None or text == "P":
        raise ValueError(_why(text))
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    try:
        return timedelta(**parts)
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long") from None


def _why(text: str) -> str:
    """The clearest message for a refused duration."""
    if text.startswith("-"):
        return f"duration {text!r} is negative; durations must be zero or more"
    if "." in text or "," in text:
        return f"duration {text!r} has a fraction; use whole numbers of a smaller unit"
    date_part = text.partition("T")[0]
    if text.startswith("P") and ("Y" in date_part or "M" in date_part):
        return f"duration {text!r} uses years or months, whose length varies; use weeks or days"
    if text in ("P", "PT"):
        return f"duration {text!r} is empty; give at least one part, e.g. PT0S"
    if text.startswith("P") and text.endswith("T"):
        return f"duration {text!r} has a T with no hours, minutes or seconds after it"
    if re.fullmatch(r"P[0-9]+W.+", text):
        return f"duration {text!r} mixes weeks with other parts; use days instead"
    return f"duration {text!r} is not an ISO 8601 duration like PT48H, P2D or P1W"


def format_duration(td: timedelta) -> str:
    """The canonical form: whole days as ``nD``, the rest as ``TnHnMnS`` with zero parts left
    out (``P2D``, ``P1DT2H``, ``PT4H30M``); zero is ``PT0S``. Sub-second parts are refused."""
    if td < timedelta(0):
        raise ValueError(f"cannot format a negative duration {td}")
    if td.microseconds:
        raise ValueError(f"cannot format a fraction of a second {td}")
    if not td:
        return "PT0S"
    hours, rest = divmod(td.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    date = f"{td.days}D" if td.days else ""
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    return f"P{date}" + (f"T{time}" if time else "")
