"""``DataRobotPipelineRunSensor``: wait for a run someone else started (poke or deferrable)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, conf

from airflow_provider_drpipelines.connection import DEFAULT_CONN_ID
from airflow_provider_drpipelines.utils.pipeline_task import PipelineTaskMixin

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_drpipelines.client.bodies import RunStatusBody


class DataRobotPipelineRunSensor(PipelineTaskMixin, BaseSensorOperator):
    """Succeed when a pipeline run COMPLETES; fail, naming the failing tasks, when it ends any other way.

    The sensor does not own the run: its timeout and a kill leave the run alone unless ``cancel_on_kill``.

    :param run_id: the run (e.g. ``"{{ ti.xcom_pull(task_ids='start', key='run_id') }}"``).
    :param pipeline_id: the pipeline.
    :param pipeline_name: or the exact name of an active pipeline (exactly one of the two; costs one call).
    :param version: the locked version the run belongs to (a number or its string, or ``"latest"``), or
        None / ``"draft"`` for a draft run. A templated ``None`` (rendered ``"None"``) means the draft too.
    :param datarobot_pipelines_conn_id: the ``datarobot_pipelines`` connection.
    :param hook_params: keyword arguments of :class:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook`
        (``retry_limit``, ``retry_delay``, ``retry_max_delay``, ``retry_timeout``).
    :param deferrable: wait in the triggerer instead of holding a worker slot between pokes.
    :param max_poll_interval: with ``deferrable``, the longest pause between two polls (adaptive polling
        from ``poke_interval``).
    :param cancel_on_kill: with ``deferrable``, cancel the run when a person kills the deferred sensor.
    """

    template_fields: Sequence[str] = ("pipeline_id", "pipeline_name", "run_id", "version")

    def __init__(
        self,
        *,
        run_id: str,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        version: int | str | None = None,
        datarobot_pipelines_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_poll_interval: float = 300.0,
        cancel_on_kill: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_connection(datarobot_pipelines_conn_id, hook_params)
        self._set_pipeline(pipeline_id, pipeline_name)
        self.run_id = run_id
        self.version = version
        self.deferrable = deferrable
        self.max_poll_interval = max_poll_interval
        self.cancel_on_kill = cancel_on_kill
        self._resolved_version: tuple[int | None] | None = None  # resolved once per try

    def _run_version(self) -> int | None:
        """The run's version number (None for a draft run); ``latest`` costs one call, once."""
        if self._resolved_version is None:
            from airflow_provider_drpipelines.utils.tracked_runs import version_argument

            self._resolve_pipeline()
            self._resolved_version = (self._scope(version_argument(self.version, none_means_draft=True)),)
        return self._resolved_version[0]

    def poke(self, context: Context) -> bool:
        from airflow_provider_drpipelines.statuses import ends_wait
        from airflow_provider_drpipelines.utils.tracked_runs import raise_unless_completed

        version = self._run_version()
        answer: RunStatusBody = self.hook.get_run_status(self.pipeline_id, self.run_id, version)
        status = answer["status"]
        self.log.info("Pipeline run %s is %s.", self.run_id, status)
        if not ends_wait(status):
            return False
        raise_unless_completed(self.hook, self.pipeline_id, self.run_id, version, status)
        return True

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        from airflow_provider_drpipelines.triggers.run import defer_on_run
        from airflow_provider_drpipelines.utils.tracked_runs import TrackedRun

        run = TrackedRun(self.pipeline_id, self.run_id, self._run_version(), "")
        defer_on_run(
            self,
            context,
            run,
            conn_id=self.datarobot_pipelines_conn_id,
            poll_interval=self.poke_interval,
            max_poll_interval=self.max_poll_interval,
            end_time=time.time() + self.timeout,
            cancel_on_timeout=False,
            cancel_on_kill=self.cancel_on_kill,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        from airflow.providers.common.compat.sdk import AirflowSensorTimeout

        from airflow_provider_drpipelines.exceptions import DataRobotPipelinesError
        from airflow_provider_drpipelines.triggers import EVENT_ERROR, EVENT_TIMEOUT
        from airflow_provider_drpipelines.utils.tracked_runs import raise_unless_completed, validate_event

        event = validate_event(event)
        if event["status"] == EVENT_TIMEOUT:
            raise AirflowSensorTimeout(event["message"])
        if event["status"] == EVENT_ERROR:
            raise DataRobotPipelinesError(event["message"])
        raise_unless_completed(self.hook, event["pipeline_id"], event["run_id"], event.get("version"), event["status"])
        self.log.info("Pipeline run %s COMPLETED.", event["run_id"])
