"""The operator that pushes what a finished run's tasks produced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_drpipelines.exceptions import (
    DataRobotConfigError,
)
from airflow_provider_drpipelines.operators.base import PipelinesBaseOperator
from airflow_provider_drpipelines.utils.results import DEFAULT_RESULT_SIZE_LIMIT, check_push_results, check_size_limit
from airflow_provider_drpipelines.utils.templating import is_template, native_value
from airflow_provider_drpipelines.utils.tracked_runs import (
    version_argument,
)
from airflow_provider_drpipelines.xcom_keys import (
    RESULTS_XCOM_KEY,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class DataRobotGetPipelineRunResultsOperator(PipelinesBaseOperator):
    """Push what a run's tasks produced: per task its status and, when small, its result value.

    For runs followed by :class:`~airflow_provider_drpipelines.sensors.DataRobotPipelineRunSensor`. Returns
    (and pushes as ``pipeline_results``) ``{task name: {status, task_id, node_id, value | value_size, ...}}``;
    a value larger than ``result_size_limit`` gives its size and the ids to fetch it. Result URLs (presigned,
    a credential until they expire) are never pushed or logged.

    :param pipeline_id: the pipeline.
    :param pipeline_name: or the exact name of an active pipeline (exactly one of the two).
    :param run_id: the run.
    :param version: the locked version the run belongs to (used to check ``tasks``), or None for a draft run.
    :param tasks: True for every task, or a list of task names.
    :param result_size_limit: largest JSON-encoded result value (bytes) pushed.
    """

    template_fields: Sequence[str] = ("pipeline_id", "pipeline_name", "run_id", "version", "tasks")

    def __init__(
        self,
        *,
        run_id: str,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        version: int | str | None = None,
        tasks: bool | list[str] = True,
        result_size_limit: int = DEFAULT_RESULT_SIZE_LIMIT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_pipeline(pipeline_id, pipeline_name)
        self.run_id = run_id
        self.version = version
        if not is_template(tasks) and check_push_results(tasks) is False:
            raise DataRobotConfigError("tasks must be True or a list of task names, not False.")
        self.tasks = tasks
        self._tasks_template = tasks
        self.result_size_limit = check_size_limit(result_size_limit)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_drpipelines.utils.results import check_task_names, collect_results

        self._resolve_pipeline()
        tasks = check_push_results(native_value(self._tasks_template, self.tasks))
        wanted = tasks if isinstance(tasks, list) else None
        if wanted is not None:
            version = self._scope(version_argument(self.version, none_means_draft=True))
            check_task_names(self.hook, self.pipeline_id, version, wanted)
        results = collect_results(self.hook, self.pipeline_id, self.run_id, wanted, self.result_size_limit)
        context["ti"].xcom_push(key=RESULTS_XCOM_KEY, value=results)
        for name, entry in results.items():
            self.log.info("Task %s: %s%s", name, entry["status"], "" if "value" in entry else " (no value pushed)")
        return results
