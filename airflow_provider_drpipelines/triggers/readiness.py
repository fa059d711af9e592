"""``DataRobotReadinessTrigger``: waits in the triggerer until a pipeline version or image version is built.

The deploy and image operators defer to it. It polls one lightweight call per wake-up (the version, or the
image), paced like the run trigger (``next_poll_delay`` on the shared wake grid), carries no secret in
``serialize()``, and has nothing to cancel: a build the task stops waiting for simply finishes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_drpipelines.client.wire import scrub
from airflow_provider_drpipelines.connection import DEFAULT_CONN_ID
from airflow_provider_drpipelines.exceptions import DataRobotApiError
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from airflow_provider_drpipelines.triggers.base import EVENT_ERROR, EVENT_TIMEOUT
from airflow_provider_drpipelines.utils.builds import Kind, Target
from airflow_provider_drpipelines.utils.polling import coalesced_delay, next_poll_delay, pause_after_failure

#: A fixed string, as for the run trigger: the path rows stored before the role folders carry, which every
#: release of the provider can load.
CLASSPATH = "airflow_provider_drpipelines.readiness.DataRobotReadinessTrigger"


class DataRobotReadinessTrigger(BaseTrigger):
    """Yield one event ``{status, error_detail, target, message}`` once the target is READY, FAILED or ERROR.

    An ``"error"`` event ends a wait that cannot end well: a failed poll that is not transient, too many
    transient ones, or ``MAX_UNKNOWN_POLLS`` polls in a row of an unknown status or a vanished target.

    :param kind: ``"pipeline_version"`` or ``"image_version"``.
    :param resource_id: the pipeline id or image id.
    :param version: the version number to wait for.
    :param conn_id: the ``datarobot_pipelines`` connection, read in the triggerer.
    :param poll_interval: seconds between the first polls.
    :param max_poll_interval: longest pause between polls (they space out with the wait's age).
    :param started_at: wall-clock start of the wait; polls space out with its age.
    :param end_time: wall-clock deadline; the event's status is then ``"timeout"``.
    :param max_consecutive_errors: transient poll failures (network, 429, 5xx) tolerated in a row.
    :param resume: what the operator needs afterwards, echoed in the event (``dag.test()`` drops the
        deferral's own kwargs and resumes with the event alone).
    """

    def __init__(
        self,
        *,
        kind: Kind,
        resource_id: str,
        version: int,
        conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        started_at: float | None = None,
        end_time: float | None = None,
        max_consecutive_errors: int = 10,
        resume: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.target = Target(kind, resource_id, version)
        self.conn_id = conn_id
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.started_at = time.time() if started_at is None else started_at
        self.end_time = end_time
        self.max_consecutive_errors = max_consecutive_errors
        self.resume = resume or {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                **self.target.as_dict(),
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "started_at": self.started_at,
                "end_time": self.end_time,
                "max_consecutive_errors": self.max_consecutive_errors,
                "resume": self.resume,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(await self._wait())  # type: ignore[no-untyped-call]

    async def _wait(self) -> dict[str, Any]:
        target = self.target
        try:
            client = await DataRobotPipelinesHook(self.conn_id, retry_limit=1).aget_client()
        except Exception as err:  # a bad connection must become an event, not a crashed trigger
            return self._event(EVENT_ERROR, f"Cannot use connection {self.conn_id!r}: {err}")
        errors = 0
        unknown = 0
        status = ""
        while True:
            delay = next_poll_delay(self.poll_interval, self.max_poll_interval, time.time() - self.started_at)
            try:
                status, detail = target.status(await target.request(client))
                errors = 0
            except DataRobotApiError as err:
                errors += 1
                if not err.retryable or errors > self.max_consecutive_errors:
                    return self._event(EVENT_ERROR, f"Stopped waiting for {target.describe()}: {err}")
                self.log.warning("Status poll failed (%d in a row), will retry: %s", errors, err)
                delay = pause_after_failure(delay, err.retry_after, self.max_poll_interval)
            except Exception as err:  # no poll may crash the trigger, as in the run trigger
                reason = scrub(f"{type(err).__name__}: {err}", client.settings.token)
                return self._event(EVENT_ERROR, f"Stopped waiting for {target.describe()}: unexpected {reason}")
            else:
                if target.ends_wait(status):
                    return self._event(status, f"{target.describe().capitalize()} is {status}.", detail)
                unknown, stop = target.unknown_streak(status, unknown)
                if stop is not None:
                    return self._event(EVENT_ERROR, stop)
            now = time.time()
            if self.end_time is not None and now >= self.end_time:
                message = f"{target.describe().capitalize()} was still {status or 'unknown'} at the timeout."
                return self._event(EVENT_TIMEOUT, message)
            pause = delay if self.end_time is None else min(delay, self.end_time - now)
            await asyncio.sleep(coalesced_delay(pause, asyncio.get_running_loop().time()))

    def _event(self, status: str, message: str, error_detail: str | None = None) -> dict[str, Any]:
        return {
            "status": status,
            "error_detail": error_detail,
            "target": self.target.as_dict(),
            "message": message,
            "resume": self.resume,
        }
