"""The polling engine every trigger of this provider runs on, written once.

A subclass says what one poll asks and when its answer ends the wait (:meth:`PollingTrigger._poll`), which
deadlines it keeps and what it does when one passes; the base does the rest the same way for all: a
connection that cannot be used becomes an event (never a crashed trigger), transient failures are tolerated
``max_consecutive_errors`` times in a row, ``Retry-After`` may lengthen a pause up to ``max_poll_interval``,
an unexpected error is scrubbed of the token before it is told, pauses grow with the wait's age
(``client.polling.next_poll_delay``), never sleep past a deadline, and land on the process-wide wake grid.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from airflow.triggers.base import BaseTrigger

from airflow_provider_drpipelines.client.polling import next_poll_delay, pause_after_failure
from airflow_provider_drpipelines.client.wire import scrub
from airflow_provider_drpipelines.exceptions import DataRobotApiError
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook  # here, not in run(): no stall on first use
from airflow_provider_drpipelines.triggers.wake_grid import sleep_on_grid

if TYPE_CHECKING:
    from airflow_provider_drpipelines.client.async_client import DataRobotPipelinesAsyncClient

#: Event statuses besides the run's or build's own: the wait ran out, or it could not be followed.
EVENT_TIMEOUT: Final = "timeout"
EVENT_ERROR: Final = "error"

#: How long past a deferred wait's own deadline Airflow waits before failing the task itself: the trigger,
#: which acts at its deadline, always gets there first.
DEFERRAL_GRACE = timedelta(minutes=2)


def deferral_timeout(*deadlines: float | None) -> timedelta | None:
    """The ``timeout`` a task defers with, Airflow's own backstop: ``DEFERRAL_GRACE`` past the latest deadline."""
    kept = [deadline for deadline in deadlines if deadline is not None]
    return timedelta(seconds=max(max(kept) - time.time(), 0.0)) + DEFERRAL_GRACE if kept else None


class PollingTrigger(BaseTrigger):
    """Poll one lightweight call until its answer, a failure or a deadline ends the wait; yield one event
    (``_wait``), or every event of every poll for a watch that runs forever (``_events``).

    Subclasses set ``conn_id``, ``poll_interval``, ``max_poll_interval`` and ``max_consecutive_errors``.
    """

    conn_id: str
    poll_interval: float
    max_poll_interval: float
    max_consecutive_errors: int

    # --- what a subclass says ------------------------------------------------------------------
    @property
    def _wait_started_at(self) -> float:
        """Wall-clock start of the wait: pauses grow with its age."""
        raise NotImplementedError

    def _stopped(self) -> str:
        """The start of an error event's message, e.g. ``"Stopped following run r1"``."""
        raise NotImplementedError

    async def _poll(self, client: DataRobotPipelinesAsyncClient) -> dict[str, Any] | None:
        """One poll: the event that ends the wait, or None to poll again. API errors propagate."""
        raise NotImplementedError

    def _deadlines(self) -> list[tuple[float, str]]:
        """(wall-clock deadline, why it matters) pairs this wait keeps."""
        raise NotImplementedError

    async def _time_out(self, why: str) -> dict[str, Any]:
        """The event once the deadline ``why`` has passed (after whatever that deadline means to do)."""
        raise NotImplementedError

    def _event(self, status: str, message: str) -> dict[str, Any]:
        raise NotImplementedError

    async def _poll_events(self, client: DataRobotPipelinesAsyncClient) -> list[dict[str, Any]]:
        """One poll's events: the one that ends a wait by default; a watch that runs forever yields many."""
        ended = await self._poll(client)
        return [] if ended is None else [ended]

    # --- the wait, the same for every trigger --------------------------------------------------
    async def _wait(self) -> dict[str, Any]:
        async with aclosing(self._events(once=True)) as events:
            async for event in events:
                return event
        raise AssertionError("the polling loop ends only with an event")  # pragma: no cover

    async def _events(self, once: bool = False) -> AsyncGenerator[dict[str, Any], None]:
        """Poll until an event ends the wait (``once``), a failure or a deadline does; yield every event."""
        try:
            client = await DataRobotPipelinesHook(self.conn_id, retry_limit=1).aget_client()
        except Exception as err:  # a bad connection must become an event, not a crashed trigger
            yield self._event(EVENT_ERROR, f"Cannot use connection {self.conn_id!r}: {err}")
            return
        errors = 0
        while True:
            delay = next_poll_delay(self.poll_interval, self.max_poll_interval, time.time() - self._wait_started_at)
            try:
                events = await self._poll_events(client)
                errors = 0
            except DataRobotApiError as err:
                errors += 1
                if not err.retryable or errors > self.max_consecutive_errors:
                    yield self._event(EVENT_ERROR, f"{self._stopped()}: {err}")
                    return
                self.log.warning("Status poll failed (%d in a row), will retry: %s", errors, err)
                delay = pause_after_failure(delay, err.retry_after, self.max_poll_interval)
            except Exception as err:  # no poll may crash the trigger: the task's worker re-check takes over
                reason = scrub(f"{type(err).__name__}: {err}", client.settings.token)
                yield self._event(EVENT_ERROR, f"{self._stopped()}: unexpected {reason}")
                return
            else:
                for event in events:
                    yield event
                if events and once:
                    return
            if expired := self._expired_deadline():
                yield await self._time_out(expired)
                return
            pause = min(delay, self._seconds_to_deadline())
            await sleep_on_grid(pause)

    def _expired_deadline(self) -> str | None:
        now = time.time()
        return next((why for when, why in self._deadlines() if now >= when), None)

    def _seconds_to_deadline(self) -> float:
        now = time.time()
        return min((max(when - now, 0.0) for when, _ in self._deadlines()), default=float("inf"))
