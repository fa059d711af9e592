"""``DataRobotPipelineRunEndedTrigger``: the deferred wait of ``DataRobotPipelineRunSensor(ended_after=...)``.

One event, for the first run of the scope that ends after ``ended_after`` (its ``updatedAt`` once terminal),
read with the same scan as the event trigger and the sensor's poke (``utils.ended_runs.RunWatch``). On Airflow
3.3 the sensor starts here (``start_from_trigger``): Airflow renders ``pipeline_id``, ``pipeline_name``,
``version`` and ``ended_after`` in the triggerer, so they are read when the wait starts, not when it is built.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Final

from airflow.triggers.base import TriggerEvent

from airflow_provider_drpipelines.connection import DEFAULT_CONN_ID
from airflow_provider_drpipelines.statuses import SUCCESS_RUN_STATUSES
from airflow_provider_drpipelines.triggers.base import EVENT_TIMEOUT, PollingTrigger
from airflow_provider_drpipelines.utils.ended_runs import RunWatch, adrive, check_scope, parse_time

if TYPE_CHECKING:
    from airflow_provider_drpipelines.client.async_client import DataRobotPipelinesAsyncClient

CLASSPATH: Final = "airflow_provider_drpipelines.triggers.DataRobotPipelineRunEndedTrigger"


class DataRobotPipelineRunEndedTrigger(PollingTrigger):
    """Yield ``{status, run_id, pipeline_id, version, message}`` for the first run ending after ``ended_after``.

    With ``fail_on_failure`` any terminal status counts, else only COMPLETED. ``status`` is ``"timeout"`` when
    ``end_time`` passed, ``"error"`` when the runs could not be read.

    :param ended_after: an ISO-8601 time (rendered by Airflow when the sensor starts in the triggerer).
    :param version: None for any locked version, a number, or ``"draft"``.
    :param end_time: wall-clock deadline of the sensor's ``timeout`` (None: Airflow's own trigger timeout).
    """

    max_consecutive_errors = 10

    def __init__(
        self,
        *,
        ended_after: str,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        version: int | str | None = None,
        fail_on_failure: bool = True,
        conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 60.0,
        max_poll_interval: float = 300.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.ended_after = ended_after
        self.pipeline_id = pipeline_id
        self.pipeline_name = pipeline_name
        self.version = version
        self.fail_on_failure = fail_on_failure
        self.conn_id = conn_id
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.end_time = end_time
        self._started_at = time.time()
        self._watch: RunWatch | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "ended_after": self.ended_after,
                "pipeline_id": self.pipeline_id,
                "pipeline_name": self.pipeline_name,
                "version": self.version,
                "fail_on_failure": self.fail_on_failure,
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "end_time": self.end_time,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(await self._wait())  # type: ignore[no-untyped-call]

    async def _poll(self, client: DataRobotPipelinesAsyncClient) -> dict[str, Any] | None:
        watch = self._watch or await self._start_watch()
        ended = await adrive(watch.scan(), client)
        counted = [run for run in ended if self.fail_on_failure or run.status in SUCCESS_RUN_STATUSES]
        if not counted:
            return None
        first = counted[0]
        message = f"Pipeline run {first.run_id} ended {first.status} at {first.ended_at}, after {self.ended_after}."
        return {**self._event(first.status, message), "run_id": first.run_id, "version": first.version}

    async def _start_watch(self) -> RunWatch:
        if not self.pipeline_id:
            from asgiref.sync import sync_to_async

            from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
            from airflow_provider_drpipelines.utils.names import resolve_pipeline_id

            hook = DataRobotPipelinesHook(self.conn_id)
            self.pipeline_id = await sync_to_async(resolve_pipeline_id)(hook, str(self.pipeline_name))
        floor = parse_time(self.ended_after, "ended_after")
        self._watch = RunWatch(self.pipeline_id, check_scope(self.version), ended_after=floor)
        return self._watch

    @property
    def _wait_started_at(self) -> float:
        return self._started_at

    def _stopped(self) -> str:
        return f"Stopped waiting for a run of pipeline {self.pipeline_id or self.pipeline_name!r} to end"

    def _deadlines(self) -> list[tuple[float, str]]:
        return [] if self.end_time is None else [(self.end_time, "the sensor's timeout")]

    async def _time_out(self, why: str) -> dict[str, Any]:
        return self._event(EVENT_TIMEOUT, f"No run of the pipeline ended after {self.ended_after} before {why} passed.")

    def _event(self, status: str, message: str) -> dict[str, Any]:
        return {
            "status": status,
            "run_id": "",
            "pipeline_id": self.pipeline_id or "",
            "version": None,
            "message": message,
        }
