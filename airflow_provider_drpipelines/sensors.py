"""``DataRobotPipelineRunSensor``: wait for a run someone else started (poke or deferrable)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, conf

from airflow_provider_drpipelines.connection import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook


class DataRobotPipelineRunSensor(BaseSensorOperator):
    """Succeed when a pipeline run COMPLETES; fail, naming the failing tasks, when it ends any other way.

    The sensor does not own the run: its timeout and a kill leave the run alone unless ``cancel_on_kill``.

    :param pipeline_id: the pipeline.
    :param pipeline_name: or the exact name of an active pipeline (exactly one of the two; costs one call).
    :param run_id: the run (e.g. ``"{{ ti.xcom_pull(task_ids='start', key='run_id') }}"``).
    :param version: the locked version the run belongs to (number or its string), or None for a draft run.
    :param deferrable: wait in the triggerer instead of holding a worker slot between pokes.
    :param max_poll_interval: with ``deferrable``, the longest pause between two polls (adaptive polling).
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
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_poll_interval: float = 300.0,
        cancel_on_kill: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        from airflow_provider_drpipelines._names import check_pipeline_reference

        check_pipeline_reference(pipeline_id, pipeline_name, type(self).__name__)
        self.pipeline_id: str = pipeline_id  # type: ignore[assignment]
        self.pipeline_name = pipeline_name
        self.run_id = run_id
        self.version = version
        self.datarobot_pipelines_conn_id = datarobot_pipelines_conn_id
        self.deferrable = deferrable
        self.max_poll_interval = max_poll_interval
        self.cancel_on_kill = cancel_on_kill

    @cached_property
    def hook(self) -> DataRobotPipelinesHook:
        from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

        return DataRobotPipelinesHook(self.datarobot_pipelines_conn_id)

    @property
    def _version_number(self) -> int | None:
        from airflow_provider_drpipelines._endpoints import version_number

        if self.version in (None, "", "None", "draft"):
            return None
        return version_number(
            int(self.version) if isinstance(self.version, str) and self.version.isdigit() else self.version
        )

    def _resolve_pipeline(self) -> None:
        """A name becomes the id once per task instance (one call)."""
        if self.pipeline_name is not None and not self.pipeline_id:
            from airflow_provider_drpipelines._names import resolve_pipeline_id

            self.pipeline_id = resolve_pipeline_id(self.hook, self.pipeline_name)

    def poke(self, context: Context) -> bool:
        from airflow_provider_drpipelines._runs import raise_unless_completed
        from airflow_provider_drpipelines.statuses import ends_wait

        self._resolve_pipeline()
        version = self._version_number
        status: str = self.hook.get_run_status(self.pipeline_id, self.run_id, version)["status"]
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
        from airflow_provider_drpipelines.triggers import DataRobotPipelineRunTrigger, task_instance_identity

        now = time.time()
        trigger = DataRobotPipelineRunTrigger(
            pipeline_id=self.pipeline_id,
            run_id=self.run_id,
            version=self._version_number,
            conn_id=self.datarobot_pipelines_conn_id,
            poll_interval=self.poke_interval,
            max_poll_interval=self.max_poll_interval,
            end_time=now + self.timeout,
            cancel_on_timeout=False,
            cancel_on_kill=self.cancel_on_kill,
            **task_instance_identity(context["ti"]),
        )
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + timedelta(minutes=2),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        from airflow.providers.common.compat.sdk import AirflowSensorTimeout

        from airflow_provider_drpipelines._runs import raise_unless_completed, validate_event
        from airflow_provider_drpipelines.exceptions import DataRobotPipelinesError
        from airflow_provider_drpipelines.triggers import EVENT_ERROR, EVENT_TIMEOUT

        event = validate_event(event)
        if event["status"] == EVENT_TIMEOUT:
            raise AirflowSensorTimeout(event["message"])
        if event["status"] == EVENT_ERROR:
            raise DataRobotPipelinesError(event["message"])
        raise_unless_completed(self.hook, event["pipeline_id"], event["run_id"], event.get("version"), event["status"])
        self.log.info("Pipeline run %s COMPLETED.", event["run_id"])
