"""``DataRobotReadinessTrigger``: waits in the triggerer until a pipeline version or image version is built.

The deploy and image operators defer to it. It polls one lightweight call per wake-up (the version, or the
image), paced like the run trigger (``next_poll_delay`` on the shared wake grid), carries no secret in
``serialize()``, and has nothing to cancel: a build the task stops waiting for simply finishes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_drpipelines.connection import DEFAULT_CONN_ID
from airflow_provider_drpipelines.triggers.base import EVENT_ERROR, EVENT_TIMEOUT, PollingTrigger
from airflow_provider_drpipelines.utils.builds import Kind, Target

if TYPE_CHECKING:
    from airflow_provider_drpipelines.client.async_client import DataRobotPipelinesAsyncClient

#: A fixed string, as for the run trigger: the path rows stored before the role folders carry, which every
#: release of the provider can load.
CLASSPATH = "airflow_provider_drpipelines.readiness.DataRobotReadinessTrigger"


class DataRobotReadinessTrigger(PollingTrigger):
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
        self._status = ""  # the target's last status seen; a failed poll keeps it
        self._unknown = 0  # polls in a row with an unknown status or no target

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

    @property
    def _wait_started_at(self) -> float:
        return self.started_at

    def _stopped(self) -> str:
        return f"Stopped waiting for {self.target.describe()}"

    async def _poll(self, client: DataRobotPipelinesAsyncClient) -> dict[str, Any] | None:
        target = self.target
        self._status, detail = target.status(await target.request(client))
        if target.ends_wait(self._status):
            return self._event(self._status, f"{target.describe().capitalize()} is {self._status}.", detail)
        self._unknown, stop = target.unknown_streak(self._status, self._unknown)
        return None if stop is None else self._event(EVENT_ERROR, stop)

    def _deadlines(self) -> list[tuple[float, str]]:
        return [] if self.end_time is None else [(self.end_time, "the timeout")]

    async def _time_out(self, why: str) -> dict[str, Any]:
        message = f"{self.target.describe().capitalize()} was still {self._status or 'unknown'} at {why}."
        return self._event(EVENT_TIMEOUT, message)

    def _event(self, status: str, message: str, error_detail: str | None = None) -> dict[str, Any]:
        return {
            "status": status,
            "error_detail": error_detail,
            "target": self.target.as_dict(),
            "message": message,
            "resume": self.resume,
        }
