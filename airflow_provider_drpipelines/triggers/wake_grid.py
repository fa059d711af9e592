"""The triggers' pauses, one event-loop timer per wake-grid point for all of them.

A triggerer following thousands of runs has their pauses end on a few grid points (``client.polling``). With
``asyncio.sleep`` each pause is its own timer on the loop's heap (a handle, and a push and a pop ordered by
comparisons written in Python); here the first pause ending on a point schedules one timer, and every other
pause ending there waits on it, so each wake-up is one timer however many triggers it wakes.
"""

from __future__ import annotations

import asyncio
import weakref

from airflow_provider_drpipelines.client.polling import coalesced_wake


class _GridPoints:
    """The pauses waiting on each grid point of one loop.

    Holds the loop only through those pauses' futures, and a cancelled pause leaves at once, so the registry
    below lets go of a loop once its triggers are cancelled (as a triggerer's shutdown and ``asyncio.run`` do).
    """

    def __init__(self) -> None:
        self._waiting: dict[float, list[asyncio.Future[None]]] = {}

    def until(self, loop: asyncio.AbstractEventLoop, when: float) -> asyncio.Future[None]:
        waiting = self._waiting.get(when)
        if waiting is None:
            waiting = self._waiting[when] = []
            loop.call_at(when, self._wake, when)
        future: asyncio.Future[None] = loop.create_future()
        waiting.append(future)
        return future

    def leave(self, when: float, future: asyncio.Future[None]) -> None:
        waiting = self._waiting.get(when, [])
        if future in waiting:
            waiting.remove(future)

    def _wake(self, when: float) -> None:
        for future in self._waiting.pop(when):
            if not future.done():  # cancelled, its task not yet told
                future.set_result(None)


_POINTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _GridPoints] = weakref.WeakKeyDictionary()


async def sleep_on_grid(delay: float) -> None:
    """Pause about ``delay`` seconds, waking on the last wake-grid point before it ends (never later)."""
    loop = asyncio.get_running_loop()
    points = _POINTS.get(loop)
    if points is None:
        points = _POINTS[loop] = _GridPoints()
    when = coalesced_wake(delay, loop.time())
    future = points.until(loop, when)
    try:
        await future
    except asyncio.CancelledError:  # the trigger was cancelled: its pause no longer waits on the point
        points.leave(when, future)
        raise
