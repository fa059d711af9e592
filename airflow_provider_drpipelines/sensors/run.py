"""``DataRobotPipelineRunSensor``: wait for a run someone else started, or for the next run of a pipeline to end
(poke or deferrable)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_drpipelines import version_compat
from airflow_provider_drpipelines.connection import DEFAULT_CONN_ID
from airflow_provider_drpipelines.exceptions import DataRobotConfigError
from airflow_provider_drpipelines.utils.pipeline_task import PipelineTaskMixin

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_drpipelines.client.bodies import RunStatusBody
    from airflow_provider_drpipelines.utils.ended_runs import RunWatch

#: The trigger a sensor waiting for the next run defers on (``triggers.ended.CLASSPATH``), written out so that
#: building the sensor at DAG parse imports no trigger.
_ENDED_TRIGGER = "airflow_provider_drpipelines.triggers.DataRobotPipelineRunEndedTrigger"


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _ended_after_text(value: Any) -> str:
    """``ended_after`` as the ISO-8601 string a trigger carries; a value that does not parse fails here."""
    from airflow_provider_drpipelines.utils.ended_runs import parse_time

    return parse_time(value, "ended_after").isoformat()


class DataRobotPipelineRunSensor(PipelineTaskMixin, BaseSensorOperator):
    """Succeed when a pipeline run COMPLETES; fail, naming the failing tasks, when it ends any other way.

    Give exactly one of ``run_id`` (that run) and ``ended_after`` (the first run of the pipeline, whoever started
    it and whenever it was created, that ends after that time: its ``updatedAt`` once terminal). With
    ``ended_after`` the sensor returns that run's id (``return_value``); it reads the 1,000 newest runs of each
    scope. The sensor does not own the run: its timeout and a kill leave the run alone unless ``cancel_on_kill``.
    On Airflow 3.3 a deferrable sensor with ``ended_after`` starts in the triggerer and never takes a worker slot
    until a run has ended.

    :param run_id: the run (e.g. ``"{{ ti.xcom_pull(task_ids='start', key='run_id') }}"``).
    :param ended_after: a datetime or an ISO-8601 string, templated (e.g. ``"{{ data_interval_end }}"``); one
        that is not a template must parse when the DAG is parsed.
    :param fail_on_failure: with ``ended_after``, fail on a run that ends FAILED, ERRORED or CANCELLED (with the
        failing pipeline task's diagnostics); False keeps waiting for a COMPLETED one.
    :param pipeline_id: the pipeline.
    :param pipeline_name: or the exact name of an active pipeline (exactly one of the two; costs one call).
    :param version: with ``run_id``, the locked version the run belongs to (a number or its string, or
        ``"latest"``), or None / ``"draft"`` for a draft run; a templated ``None`` (rendered ``"None"``) means the
        draft too. With ``ended_after``, as on the event trigger: None is any of the 20 newest locked versions, a
        number that version, ``"draft"`` the draft.
    :param datarobot_pipelines_conn_id: the ``datarobot_pipelines`` connection.
    :param hook_params: keyword arguments of :class:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook`
        (``retry_limit``, ``retry_delay``, ``retry_max_delay``, ``retry_timeout``).
    :param deferrable: wait in the triggerer instead of holding a worker slot between pokes.
    :param max_poll_interval: with ``deferrable``, the longest pause between two polls (adaptive polling
        from ``poke_interval``).
    :param cancel_on_kill: with ``deferrable``, cancel the run when a person kills the deferred sensor.
    """

    template_fields: Sequence[str] = ("pipeline_id", "pipeline_name", "run_id", "version", "ended_after")

    def __init__(
        self,
        *,
        run_id: str | None = None,
        ended_after: datetime | str | None = None,
        fail_on_failure: bool = True,
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
        if (run_id is None) == (ended_after is None):
            raise DataRobotConfigError("Pass exactly one of run_id and ended_after to DataRobotPipelineRunSensor.")
        if ended_after is not None and not _is_template(ended_after):
            _ended_after_text(ended_after)
        if ended_after is not None and not _is_template(version):
            from airflow_provider_drpipelines.utils.ended_runs import check_scope

            check_scope(version)
        self.run_id = run_id
        self.ended_after = ended_after
        self.fail_on_failure = fail_on_failure
        self.version = version
        self.deferrable = deferrable
        self.max_poll_interval = max_poll_interval
        self.cancel_on_kill = cancel_on_kill
        self._resolved_version: tuple[int | None] | None = None  # resolved once per try
        self._watch: RunWatch | None = None  # the pokes of one try share what they have seen
        if ended_after is not None and deferrable and version_compat.START_FROM_TRIGGER:
            self.start_from_trigger = True
            self.start_trigger_args = version_compat.start_trigger_args(
                _ENDED_TRIGGER, self._ended_trigger_kwargs(ended_after, end_time=None), self.timeout
            )

    def _ended_trigger_kwargs(self, ended_after: Any, end_time: float | None) -> dict[str, Any]:
        """The ended-run trigger's kwargs; at DAG parse (start in the triggerer) they may still be templates."""
        return {
            "ended_after": ended_after if _is_template(ended_after) else _ended_after_text(ended_after),
            "pipeline_id": self.pipeline_id,
            "pipeline_name": self.pipeline_name,
            "version": self.version,
            "fail_on_failure": self.fail_on_failure,
            "conn_id": self.datarobot_pipelines_conn_id,
            "poll_interval": float(self.poke_interval),
            "max_poll_interval": self.max_poll_interval,
            "end_time": end_time,
        }

    def _run_version(self) -> int | None:
        """The run's version number (None for a draft run); ``latest`` costs one call, once."""
        if self._resolved_version is None:
            from airflow_provider_drpipelines.utils.tracked_runs import version_argument

            self._resolve_pipeline()
            self._resolved_version = (self._scope(version_argument(self.version, none_means_draft=True)),)
        return self._resolved_version[0]

    def poke(self, context: Context) -> bool | PokeReturnValue:
        from airflow_provider_drpipelines.statuses import ends_wait
        from airflow_provider_drpipelines.utils.tracked_runs import raise_unless_completed

        if self.ended_after is not None:
            return self._poke_ended()
        assert self.run_id is not None  # one of the two, checked at construction
        version = self._run_version()
        answer: RunStatusBody = self.hook.get_run_status(self.pipeline_id, self.run_id, version)
        status = answer["status"]
        self.log.info("Pipeline run %s is %s.", self.run_id, status)
        if not ends_wait(status):
            return False
        raise_unless_completed(self.hook, self.pipeline_id, self.run_id, version, status)
        return True

    def _poke_ended(self) -> bool | PokeReturnValue:
        """The first run that ended after ``ended_after``: one scan, shared with the triggers."""
        from airflow_provider_drpipelines.statuses import SUCCESS_RUN_STATUSES
        from airflow_provider_drpipelines.utils.ended_runs import RunWatch, check_scope, drive, parse_time
        from airflow_provider_drpipelines.utils.tracked_runs import raise_unless_completed

        if self._watch is None:
            self._resolve_pipeline()
            floor = parse_time(self.ended_after, "ended_after")
            self._watch = RunWatch(self.pipeline_id, check_scope(self.version), ended_after=floor)
        ended = drive(self._watch.scan(), self.hook)
        for run in ended:
            self.log.info("Pipeline run %s ended %s at %s.", run.run_id, run.status, run.ended_at)
        counted = [run for run in ended if self.fail_on_failure or run.status in SUCCESS_RUN_STATUSES]
        if not counted:
            self.log.info("No run of pipeline %s has ended after %s yet.", self.pipeline_id, self.ended_after)
            return False
        first = counted[0]
        raise_unless_completed(self.hook, self.pipeline_id, first.run_id, first.version, first.status)
        return PokeReturnValue(is_done=True, xcom_value=first.run_id)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.ended_after is not None:
            return self._defer_on_next_run()
        if self.poke(context):
            return None
        from airflow_provider_drpipelines.triggers.run import defer_on_run
        from airflow_provider_drpipelines.utils.tracked_runs import TrackedRun

        assert self.run_id is not None  # one of the two, checked at construction
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

    def _defer_on_next_run(self) -> Any:
        """One poke in the worker, then the wait in the triggerer (Airflow 3.3 started it there already)."""
        found = self._poke_ended()
        if isinstance(found, PokeReturnValue):
            return found.xcom_value
        from airflow_provider_drpipelines.triggers import DataRobotPipelineRunEndedTrigger
        from airflow_provider_drpipelines.triggers.base import deferral_timeout

        end_time = time.time() + self.timeout
        trigger = DataRobotPipelineRunEndedTrigger(**self._ended_trigger_kwargs(self.ended_after, end_time))
        self.defer(trigger=trigger, method_name="execute_complete", timeout=deferral_timeout(end_time))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str | None:
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
        return str(event["run_id"]) if self.ended_after is not None else None
