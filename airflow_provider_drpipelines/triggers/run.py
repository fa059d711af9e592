"""``DataRobotPipelineRunTrigger``: waits for a run in the triggerer, holding no worker slot.

It polls only the lightweight status endpoint, through an HTTP pool shared by every trigger of the same
connection in the triggerer process. It never blocks the event loop, carries no secret in ``serialize()``,
and cancels the run exactly when the task was killed by a person — never on a triggerer restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.triggers.base import TriggerEvent

from airflow_provider_drpipelines import version_compat
from airflow_provider_drpipelines.client.steps import arun_steps
from airflow_provider_drpipelines.connection import DEFAULT_CONN_ID
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from airflow_provider_drpipelines.statuses import ends_wait
from airflow_provider_drpipelines.triggers.base import EVENT_TIMEOUT, PollingTrigger, deferral_timeout
from airflow_provider_drpipelines.utils.progress import RunProgress

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, Context

    from airflow_provider_drpipelines.client.async_client import DataRobotPipelinesAsyncClient
    from airflow_provider_drpipelines.client.bodies import RunStatusBody
    from airflow_provider_drpipelines.utils.tracked_runs import TrackedRun

#: The message the Airflow >= 3.3 triggerer cancels a trigger with when a person acts on its task.
USER_ACTION_CANCEL_MSG = "__airflow_user_action__"
_DEFERRED = "deferred"
#: Written as a fixed string, as Airflow's own providers do: a classpath derived from the module would change
#: whenever the class moves, and a row already stored in a metadata database must keep loading. This is the
#: documented path, which every release of the provider can load (a rollback included).
CLASSPATH = "airflow_provider_drpipelines.triggers.DataRobotPipelineRunTrigger"


def task_instance_identity(ti: Any) -> dict[str, Any]:
    """The trigger kwargs naming the deferring task instance (``task_instance`` is unset under ``dag.test()``)."""
    return {
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "dag_run_id": ti.run_id,
        "map_index": ti.map_index if ti.map_index is not None else -1,
        "try_number": ti.try_number,
    }


class DataRobotPipelineRunTrigger(PollingTrigger):
    """Yield one event ``{status, run_id, pipeline_id, version, message}`` once the run is terminal.

    ``status`` is the run's own terminal status, ``"timeout"`` when a deadline passed, or ``"error"`` when
    the run could not be followed (the task then checks the run from the worker). Only primitives are
    serialized: the token stays in the connection.

    :param pipeline_id: the pipeline.
    :param run_id: the run to follow.
    :param version: the locked version the run belongs to, or None for a draft run.
    :param conn_id: the ``datarobot_pipelines`` connection, read in the triggerer.
    :param poll_interval: seconds between the first status polls.
    :param max_poll_interval: longest pause between polls; polls space out to 10 % of the run's age.
    :param run_started_at: wall-clock time the run was created or adopted; adaptive polling grows with age.
    :param end_time: wall-clock deadline of the operator's ``timeout``.
    :param execution_deadline: wall-clock deadline from the task's ``execution_timeout``.
    :param cancel_on_timeout: cancel the run when a deadline passes (the sensor, which does not own it, doesn't).
    :param cancel_on_kill: cancel the run when a person kills the deferred task (mark failed/success, clear).
    :param max_consecutive_errors: transient poll failures (network, 429, 5xx) tolerated in a row.
    :param dag_id: the deferred task instance's DAG; with the next four, it tells a kill from a triggerer
        restart on Airflow < 3.3 (``task_instance`` is not set under ``dag.test()``).
    :param task_id: the deferred task.
    :param dag_run_id: the deferred task instance's DAG run.
    :param map_index: its map index (-1 when not mapped).
    :param try_number: the try that deferred; a later try means this one was killed.
    """

    def __init__(
        self,
        *,
        pipeline_id: str,
        run_id: str,
        version: int | None,
        conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 10.0,
        max_poll_interval: float = 300.0,
        run_started_at: float | None = None,
        end_time: float | None = None,
        execution_deadline: float | None = None,
        cancel_on_timeout: bool = True,
        cancel_on_kill: bool = True,
        max_consecutive_errors: int = 10,
        dag_id: str | None = None,
        task_id: str | None = None,
        dag_run_id: str | None = None,
        map_index: int = -1,
        try_number: int | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.pipeline_id = pipeline_id
        self.run_id = run_id
        self.version = version
        self.conn_id = conn_id
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.run_started_at = time.time() if run_started_at is None else run_started_at
        self.end_time = end_time
        self.execution_deadline = execution_deadline
        self.cancel_on_timeout = cancel_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.max_consecutive_errors = max_consecutive_errors
        self.dag_id = dag_id
        self.task_id = task_id
        self.dag_run_id = dag_run_id
        self.map_index = map_index
        self.try_number = try_number
        self._cancel_sent = False
        self._status: str | None = None
        self._progress = RunProgress(pipeline_id, run_id, max_poll_interval, self.log)  # in the task log on 3.x

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "pipeline_id": self.pipeline_id,
                "run_id": self.run_id,
                "version": self.version,
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "run_started_at": self.run_started_at,
                "end_time": self.end_time,
                "execution_deadline": self.execution_deadline,
                "cancel_on_timeout": self.cancel_on_timeout,
                "cancel_on_kill": self.cancel_on_kill,
                "max_consecutive_errors": self.max_consecutive_errors,
                "dag_id": self.dag_id,
                "task_id": self.task_id,
                "dag_run_id": self.dag_run_id,
                "map_index": self.map_index,
                "try_number": self.try_number,
            },
        )

    # --- the wait ------------------------------------------------------------------------------
    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        except asyncio.CancelledError as cancel:
            await self._cancel_if_killed_before_3_3(cancel)
            raise
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]

    @property
    def _wait_started_at(self) -> float:
        return self.run_started_at

    def _stopped(self) -> str:
        return f"Stopped following run {self.run_id}"

    async def _poll(self, client: DataRobotPipelinesAsyncClient) -> dict[str, Any] | None:
        self._status = None  # a failed poll leaves the run's status unknown
        answer: RunStatusBody = await client.get_run_status(self.pipeline_id, self.run_id, self.version)
        status = self._status = answer["status"]
        await arun_steps(self._progress.observe(client, str(status), client.settings.token))
        return self._event(str(status), f"Pipeline run {self.run_id} is {status}.") if ends_wait(status) else None

    def _deadlines(self) -> list[tuple[float, str]]:
        return [
            (when, why)
            for when, why in (
                (self.end_time, "the operator's timeout"),
                (self.execution_deadline, "the task's execution_timeout"),
            )
            if when is not None
        ]

    async def _time_out(self, why: str) -> dict[str, Any]:
        cancelled = self.cancel_on_timeout and await self._cancel_run(f"{why} passed")
        action = "cancelled it" if cancelled else "left it running"
        status = self._status or ""
        message = f"Pipeline run {self.run_id} was still {status or 'not terminal'} when {why} passed; {action}."
        return self._event(EVENT_TIMEOUT, message)

    def _event(self, status: str, message: str) -> dict[str, Any]:
        return {
            "status": status,
            "run_id": self.run_id,
            "pipeline_id": self.pipeline_id,
            "version": self.version,
            "message": message,
        }

    # --- cancellation --------------------------------------------------------------------------
    async def on_kill(self) -> None:
        """Airflow >= 3.3 calls this only when a person acts on the deferred task."""
        if self.cancel_on_kill:
            await self._cancel_run("the deferred task was killed")

    async def _cancel_if_killed_before_3_3(self, cancel: asyncio.CancelledError) -> None:
        """Airflow < 3.3 has no ``on_kill``: cancel only if the task is no longer deferred.

        A cancellation carrying the user-action message is handled by ``on_kill``; on 3.3+ any other
        cancellation is a restart, a move to another triggerer or a trigger timeout, which keep the run.
        """
        user_action = bool(cancel.args) and cancel.args[0] == USER_ACTION_CANCEL_MSG
        if user_action or version_compat.TRIGGER_ON_KILL or not self.cancel_on_kill:
            return
        try:
            still_ours = await self._task_still_deferred_on_this_try()
        except Exception as err:  # unknown state: keeping a run beats killing a healthy one
            self.log.warning("Could not read the task's state, leaving run %s alone: %s", self.run_id, err)
            return
        if not still_ours:
            await self._cancel_run("the deferred task was killed")

    async def _task_still_deferred_on_this_try(self) -> bool:
        from asgiref.sync import sync_to_async

        if not (self.dag_id and self.task_id and self.dag_run_id):
            raise ValueError("the trigger does not know its task instance")
        state, try_number = await sync_to_async(version_compat.read_task_instance)(
            self.dag_id, self.task_id, self.dag_run_id, self.map_index
        )
        same_try = self.try_number is None or try_number is None or try_number == self.try_number
        return state == _DEFERRED and same_try

    async def _cancel_run(self, why: str) -> bool:
        """Cancel at most once per trigger; failures are logged, the caller decides what to tell the task."""
        if self._cancel_sent:
            return False
        self._cancel_sent = True
        self.log.info("Cancelling pipeline run %s: %s.", self.run_id, why)
        try:
            client = await DataRobotPipelinesHook(self.conn_id).aget_client()
            return await client.cancel_run_if_active(self.pipeline_id, self.run_id, self.version)
        except Exception as err:
            self.log.error("Could not cancel pipeline run %s: %s", self.run_id, err)
            return False


def defer_on_run(
    task: BaseOperator,
    context: Context,
    run: TrackedRun,
    *,
    conn_id: str,
    poll_interval: float,
    max_poll_interval: float,
    run_started_at: float | None = None,
    end_time: float | None = None,
    execution_deadline: float | None = None,
    cancel_on_timeout: bool = True,
    cancel_on_kill: bool = True,
    resume: dict[str, Any] | None = None,
) -> NoReturn:
    """Defer ``task`` on the one trigger that follows a run, with Airflow's own timeout as a backstop.

    :param run_started_at: when the run was created or adopted; adaptive polling grows with its age.
    :param end_time: wall-clock deadline of the wait (the operator's ``timeout``).
    :param execution_deadline: wall-clock deadline from the task's ``execution_timeout``.
    :param resume: kwargs handed back to ``execute_complete`` (a re-deferral keeps the original deadlines).
    """
    trigger = DataRobotPipelineRunTrigger(
        pipeline_id=run.pipeline_id,
        run_id=run.run_id,
        version=run.version,
        conn_id=conn_id,
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
        run_started_at=run_started_at,
        end_time=end_time,
        execution_deadline=execution_deadline,
        cancel_on_timeout=cancel_on_timeout,
        cancel_on_kill=cancel_on_kill,
        **task_instance_identity(context["ti"]),
    )
    backstop = deferral_timeout(end_time, execution_deadline)
    task.defer(trigger=trigger, method_name="execute_complete", timeout=backstop, kwargs=resume)
