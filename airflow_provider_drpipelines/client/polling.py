"""How often to ask for a run's or a build's status, one rule for the worker, the sensor and the triggers,
and the worker's wait loop."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NoReturn, TypeVar

T = TypeVar("T")

#: Share of a run's elapsed time allowed between two polls once that exceeds ``poll_interval``.
ELAPSED_FRACTION = 0.1


def next_poll_delay(
    poll_interval: float, max_poll_interval: float, elapsed: float, until_deadline: float | None = None
) -> float:
    """Seconds to the next status poll.

    Adaptive: ``poll_interval`` at first, then 10 % of the time the run has been going, capped at
    ``max_poll_interval``, so a 2 h run costs dozens of calls instead of hundreds while a finished run is
    seen within max(poll_interval, 10 % of its age). ``max_poll_interval <= poll_interval`` polls at a
    fixed interval. Never sleeps past a deadline.
    """
    delay = max(poll_interval, min(max_poll_interval, ELAPSED_FRACTION * max(elapsed, 0.0)))
    if until_deadline is not None:
        delay = min(delay, max(until_deadline, 0.0))
    return delay


def pause_after_failure(delay: float, retry_after: float | None, max_poll_interval: float) -> float:
    """The pause after a failed poll: ``Retry-After`` may lengthen it, never shorten it, and never past the
    longest poll interval (a server cannot park a trigger for hours)."""
    return max(delay, min(retry_after or 0.0, max_poll_interval))


#: Trigger wake-ups land on a grid of this many seconds shared by every trigger in the process, so a
#: triggerer following a thousand runs wakes a few times a second for all of them rather than once per
#: poll: an event-loop wake-up costs more CPU than the poll itself (``bench/triggerer_scale.py``), and each
#: grid point is one loop timer for every pause ending on it (``triggers.wake_grid``).
WAKE_GRID = 0.25


def coalesced_wake(delay: float, now: float) -> float:
    """The wake-up time of a pause of ``delay`` seconds from ``now`` (loop time): the last grid point before
    ``now + delay``.

    Earlier, never later, so a run's end is still seen within the promised delay. The grid is a tenth of
    ``delay`` when that is finer, so a pause loses at most a tenth of its length. Pauses ending on the same
    point get the same float, so they can share one timer (``triggers.wake_grid``).
    """
    grid = min(WAKE_GRID, delay / 10)
    if grid <= 0:
        return now + max(delay, 0.0)
    return min(now + delay, math.floor((now + delay) / grid) * grid)


def coalesced_delay(delay: float, now: float) -> float:
    """``delay`` shortened to end on the wake grid (:func:`coalesced_wake`), as seconds from ``now``."""
    return coalesced_wake(delay, now) - now


def poll_in_worker(
    poll: Callable[[], T],
    ends_wait: Callable[[T], bool],
    *,
    poll_interval: float,
    max_poll_interval: float,
    started_at: float,
    deadline: float | None,
    timed_out: Callable[[T], NoReturn],
    waiting: Callable[[T], None] = lambda answer: None,
) -> T:
    """The worker's wait, written once (a run's status in the hook, a build in ``utils.builds``).

    ``poll`` until ``ends_wait`` says its answer ends the wait, which is returned; ``poll`` may raise to stop.
    At ``deadline`` (wall clock) ``timed_out`` is called with the last answer and must raise; ``waiting`` sees
    every answer that does not end the wait. Pauses grow with the wait's age and never pass the deadline.
    """
    while True:
        answer = poll()
        if ends_wait(answer):
            return answer
        now = time.time()
        if deadline is not None and now >= deadline:
            timed_out(answer)
        waiting(answer)
        until_deadline = None if deadline is None else deadline - now
        time.sleep(next_poll_delay(poll_interval, max_poll_interval, now - started_at, until_deadline))
