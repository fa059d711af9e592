"""What every task of this provider shares, operators and sensor alike, and the checks of their arguments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import conf

from airflow_provider_drpipelines.exceptions import DataRobotConfigError
from airflow_provider_drpipelines.statuses import PipelineMode

if TYPE_CHECKING:
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

T = TypeVar("T")


def default_deferrable() -> bool:
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


def positive_seconds(value: float | timedelta | None, what: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise DataRobotConfigError(f"{what} must be positive, got {value!r}.")
    return seconds


class PipelineTaskMixin:
    """What every task of this provider does with its connection and its pipeline, for the operators and
    the sensor alike: one hook per task, a pipeline named by id or by name, and a version scope."""

    datarobot_pipelines_conn_id: str
    hook_params: dict[str, Any]
    pipeline_id: str
    pipeline_name: str | None = None

    def _set_connection(self, conn_id: str, hook_params: dict[str, Any] | None) -> None:
        self.datarobot_pipelines_conn_id = conn_id
        self.hook_params = hook_params or {}

    def _set_pipeline(self, pipeline_id: str | None, pipeline_name: str | None) -> None:
        """Exactly one of the two; a name is resolved to the id (one call) when the task runs."""
        from airflow_provider_drpipelines.utils.names import check_pipeline_reference

        check_pipeline_reference(pipeline_id, pipeline_name, type(self).__name__)
        self.pipeline_id = pipeline_id  # type: ignore[assignment]
        self.pipeline_name = pipeline_name

    def _resolve_pipeline(self) -> None:
        if self.pipeline_name is not None and not self.pipeline_id:
            from airflow_provider_drpipelines.utils.names import resolve_pipeline_id

            self.pipeline_id = resolve_pipeline_id(self.hook, self.pipeline_name)

    @cached_property
    def hook(self) -> DataRobotPipelinesHook:
        from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

        return DataRobotPipelinesHook(self.datarobot_pipelines_conn_id, **self.hook_params)

    def _scope(self, version: int | str) -> int | None:
        """The version number to address (``latest`` costs one call), or None for the draft."""
        if version == PipelineMode.DRAFT:
            return None
        if isinstance(version, int):
            return version
        return self.hook.resolve_version(self.pipeline_id, version)


def recheck_after_error_event(message: str, what: str, read: Callable[[], T]) -> T:
    """Read from the worker what a trigger stopped following (``message`` says why); if that fails too, say both.

    :param what: what was followed, for the message (``"The run"``, ``"The build"``).
    """
    from airflow_provider_drpipelines.exceptions import DataRobotApiError

    try:
        return read()
    except DataRobotApiError as err:
        raise DataRobotApiError(
            f"{message} {what} could not be checked from the worker either ({err}); it may still be going: "
            "check it in DataRobot.",
            method=err.method,
            path=err.path,
            status=err.status,
        ) from err
