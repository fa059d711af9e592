"""The triggers' pauses: one loop timer per wake-grid point, never waking late, cancellable one by one."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from airflow_provider_drpipelines.client.polling import WAKE_GRID
from airflow_provider_drpipelines.triggers.wake_grid import _GridPoints, sleep_on_grid

PAUSE = 0.6


def counting_timers(loop: asyncio.AbstractEventLoop) -> list[tuple[float, float]]:
    """Every timer the loop is asked to schedule from now on: (loop time when scheduled, its time)."""
    scheduled: list[tuple[float, float]] = []
    call_at = loop.call_at

    def counted(when: float, *args: object, **kwargs: object) -> asyncio.TimerHandle:
        scheduled.append((loop.time(), when))
        return call_at(when, *args, **kwargs)  # type: ignore[arg-type]

    loop.call_at = counted  # type: ignore[method-assign]
    return scheduled


def test_pauses_ending_on_one_grid_point_share_one_timer_and_none_wakes_late() -> None:
    async def scenario() -> tuple[list[tuple[float, float]], list[float], float]:
        loop = asyncio.get_running_loop()
        timers = counting_timers(loop)
        started = loop.time()

        async def pause() -> float:
            await sleep_on_grid(PAUSE)
            return loop.time() - started

        woke = await asyncio.gather(*(pause() for _ in range(200)))
        return timers, woke, started

    timers, woke, started = asyncio.run(scenario())

    assert len(timers) <= 2, "one timer per grid point (two when the pauses straddle a point)"
    # Never later than the pause: each point is due within PAUSE of the pause that asked for it (the loop's
    # clock, not a measured wake-up, so a busy machine cannot fail this), and at most a grid step earlier.
    assert all(when <= scheduled + PAUSE for scheduled, when in timers)
    assert all(when >= started + PAUSE - WAKE_GRID for _, when in timers)
    assert all(after >= PAUSE - WAKE_GRID - 0.01 for after in woke)


def test_a_cancelled_pause_leaves_the_others_on_its_point_to_wake() -> None:
    async def scenario() -> tuple[bool, list[None]]:
        cancelled = asyncio.create_task(sleep_on_grid(PAUSE))
        others = [asyncio.create_task(sleep_on_grid(PAUSE)) for _ in range(3)]
        await asyncio.sleep(0)
        cancelled.cancel()
        woke = await asyncio.wait_for(asyncio.gather(*others), timeout=5)
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        return cancelled.cancelled(), woke

    was_cancelled, woke = asyncio.run(scenario())

    assert was_cancelled
    assert woke == [None, None, None]


def test_a_finished_loop_is_not_kept_alive_by_its_pauses() -> None:
    loop = asyncio.new_event_loop()
    loop.run_until_complete(sleep_on_grid(0.05))
    pending = loop.create_task(sleep_on_grid(30.0))  # its point never comes: the loop closes first
    loop.run_until_complete(asyncio.sleep(0))
    pending.cancel()
    loop.run_until_complete(asyncio.gather(pending, return_exceptions=True))
    loop.close()
    gone = weakref.ref(loop)
    del loop, pending
    gc.collect()

    assert gone() is None


def test_a_pause_cancelled_in_the_turn_its_point_comes_does_not_break_the_wake_up() -> None:
    """The task of a cancelled pause is told on the next turn: the timer may fire first."""

    async def scenario() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        points = _GridPoints()
        when = loop.time() + 60
        cancelled, other = points.until(loop, when), points.until(loop, when)
        cancelled.cancel()
        points._wake(when)
        return cancelled.cancelled(), other.done() and other.result() is None

    assert asyncio.run(scenario()) == (True, True)
