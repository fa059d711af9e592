"""Validation of schedule fields: 5-field cron expressions and IANA time zones."""

from __future__ import annotations

import re
import zoneinfo

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (field name, lowest value, highest value, names mapped to lowest, lowest + 1, ...)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_ITEM = re.compile(r"^(?:(\*)|(\w+)(?:-(\w+))?)(?:/(\d+))?$")


def _value(token: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    upper = token.upper()
    if upper in names:
        return low + names.index(upper)
    if token.isdigit() and low <= int(token) <= high:
        return int(token)
    return None


def cron_error(expression: str) -> str | None:
    """Why ``expression`` is not a valid 5-field cron expression, or None when it is."""
    fields = expression.split()
    if len(fields) != 5:
        return f"cron expression must have 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
    for text, (field, low, high, names) in zip(fields, _FIELDS, strict=True):
        for item in text.split(","):
            match = _ITEM.match(item)
            if match is None:
                return f"invalid {field} field {text!r}"
            _star, start, end, step = match.groups()
            bounds: list[int] = []
            for token in (start, end):
                value = None if token is None else _value(token, low, high, names)
                if token is not None and value is None:
                    return f"{field} value out of range {low}-{high} in {text!r}"
                if value is not None:
                    bounds.append(value)
            if len(bounds) == 2 and bounds[0] > bounds[1]:
                return f"{field} range {start}-{end} is reversed"
            if step is not None and int(step) == 0:
                return f"{field} step must be positive in {text!r}"
    return None


def timezone_error(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone, or None when it is."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown IANA time zone {name!r}"
    return None
