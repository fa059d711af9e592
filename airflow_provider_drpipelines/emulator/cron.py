"""Schedule fields: 5-field cron expressions and IANA time zones, checked and iterated with ``croniter``."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime

from croniter import CroniterError, croniter

#: A numeric range such as ``5-1``: croniter reads a reversed one as wrapping around, the service refuses it.
_RANGE = re.compile(r"(?<![\w-])(\d+)-(\d+)")


def cron_error(expression: str) -> str | None:
    """Why ``expression`` is not a valid 5-field cron expression, or None when it is."""
    fields = expression.split()
    if len(fields) != 5:
        return f"cron expression must have 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
    for start, end in _RANGE.findall(expression):
        if int(start) > int(end):
            return f"range {start}-{end} is reversed in {expression!r}"
    try:
        croniter(expression)
    except (CroniterError, ValueError) as err:
        return f"invalid cron expression {expression!r}: {err}"
    return None


def timezone_error(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone, or None when it is."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown IANA time zone {name!r}"
    return None


def next_fire_after(expression: str, timezone: str, moment: float) -> float:
    """The first instant (epoch seconds) strictly after ``moment`` at which ``expression`` fires in ``timezone``.

    The expression and zone were validated when the schedule was stored; croniter handles DST in the zone.
    """
    start = datetime.fromtimestamp(moment, zoneinfo.ZoneInfo(timezone))
    fire: float = croniter(expression, start).get_next(float)
    return fire


def last_fire_at_or_before(expression: str, timezone: str, moment: float) -> float:
    """The latest instant (epoch seconds) at or before ``moment`` at which ``expression`` fires in ``timezone``."""
    start = datetime.fromtimestamp(moment, zoneinfo.ZoneInfo(timezone))
    previous: float = croniter(expression, start).get_prev(float)
    following = next_fire_after(expression, timezone, previous)
    return following if following <= moment else previous
