"""What a finished wait means for the task: one rule for the run operator and the sensor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_drpipelines.exceptions import (
    DataRobotPipelinesError,
    PipelineRunError,
    PipelineRunErroredError,
    PipelineRunFailedError,
)
from airflow_provider_drpipelines.statuses import (
    KNOWN_RUN_STATUSES,
    SUCCESS_RUN_STATUSES,
    USER_ENDED_RUN_STATUSES,
    RunStatus,
)

if TYPE_CHECKING:
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

_EVENT_KEYS = ("status", "run_id", "pipeline_id", "message")


def validate_event(event: Any) -> dict[str, Any]:
    """Fail closed on a missing or malformed trigger event (a lost payload, or triggerer/worker version skew)."""
    if not isinstance(event, dict) or any(key not in event for key in _EVENT_KEYS):
        raise DataRobotPipelinesError(f"Invalid event from DataRobotPipelineRunTrigger: {event!r}")
    status = event["status"]
    if not isinstance(status, str) or not status:
        raise DataRobotPipelinesError(f"Trigger event without a status: {event!r}")
    return event


def raise_unless_completed(
    hook: DataRobotPipelinesHook,
    pipeline_id: str,
    run_id: str,
    version: int | None,
    status: str,
    retry_failed_runs: bool = True,
) -> None:
    """COMPLETED returns; any other end raises with the failing tasks, their errors and log tails.

    With ``retry_failed_runs=False`` a FAILED or CANCELLED run raises an error Airflow does not retry
    (the pipeline's code or a person ended it: the same run again would end the same way); ERRORED,
    a platform fault, always stays retryable.
    """
    if status in SUCCESS_RUN_STATUSES:
        return
    description = hook.describe_run_failure(pipeline_id, run_id, version, status)
    if status not in KNOWN_RUN_STATUSES:
        description = f"Pipeline run {run_id} reported a status this provider does not know: {status!r}.\n{description}"
    error_class: type[PipelineRunError] = PipelineRunError
    if status == RunStatus.ERRORED:
        error_class = PipelineRunErroredError
    elif status in USER_ENDED_RUN_STATUSES and not retry_failed_runs:
        error_class = PipelineRunFailedError
        description += "\nNot retried: retry_failed_runs is False."
    raise error_class(description, pipeline_id=pipeline_id, run_id=run_id, status=status)
