"""Following a run, written once for the run operator and the sensor: which version a task means and what a
finished wait means for the task (the trigger it defers on is ``triggers.run.defer_on_run``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_drpipelines.exceptions import (
    DataRobotConfigError,
    DataRobotPipelinesError,
    PipelineRunError,
    PipelineRunErroredError,
    PipelineRunFailedError,
)
from airflow_provider_drpipelines.statuses import (
    KNOWN_RUN_STATUSES,
    LATEST_VERSION,
    SUCCESS_RUN_STATUSES,
    USER_ENDED_RUN_STATUSES,
    PipelineMode,
    RunStatus,
)

if TYPE_CHECKING:
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook


@dataclass(frozen=True)
class TrackedRun:
    """A run a task follows: the ids a trigger, the task state store or a retry needs."""

    pipeline_id: str
    run_id: str
    version: int | None
    status: str


@dataclass(frozen=True)
class RunCreate:
    """A run create sent but not yet answered: enough to find the run it made if the task stops meanwhile."""

    pipeline_id: str
    version: int | None
    input_id: str
    known_run_ids: frozenset[str]
    #: Wall-clock time (``time.time()``) the create was sent.
    sent_at: float

    def as_record(self) -> dict[str, Any]:
        """For the task state store: the next try finds the run if this one was killed before it could."""
        return {
            "pipeline_id": self.pipeline_id,
            "version": self.version,
            "input_id": self.input_id,
            "known_run_ids": sorted(self.known_run_ids),
            "sent_at": self.sent_at,
            "creating": True,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> RunCreate | None:
        """The create a stored record describes; None for a record of a run (or one this class cannot read)."""
        known, sent_at = record.get("known_run_ids"), record.get("sent_at")
        if not record.get("creating") or not isinstance(record.get("input_id"), str) or not isinstance(known, list):
            return None
        if isinstance(sent_at, bool) or not isinstance(sent_at, (int, float)):
            return None
        known_ids = frozenset(map(str, known))
        return cls(record["pipeline_id"], record.get("version"), record["input_id"], known_ids, float(sent_at))

    def look_for_its_run(self, hook: DataRobotPipelinesHook, within: float | None = None) -> dict[str, Any] | None:
        """The run this create made, looked for as long as the server may still carry it out (or ``within`` s)."""
        return hook.look_for_interrupted_run_create(
            self.pipeline_id, self.version, self.input_id, self.known_run_ids, self.sent_at, within
        )


#: Seconds ``on_kill`` keeps back from Airflow's SIGTERM grace, so that it ends before the SIGKILL that follows.
_KILL_MARGIN = 1.0


def kill_budget() -> float | None:
    """Seconds the kill path may spend cancelling, or None for no bound of its own.

    Airflow calls ``on_kill`` while it handles an execution timeout (nothing kills the process then), or from
    its SIGTERM handler (mark failed, a lost heartbeat, a worker shutting down), which SIGKILL follows.
    """
    from airflow_provider_drpipelines.version_compat import handling_execution_timeout, sigterm_grace

    return None if handling_execution_timeout() else max(sigterm_grace() - _KILL_MARGIN, 1.0)


def version_argument(version: Any, none_means_draft: bool) -> int | str:
    """The one reading of a task's ``version``: a number (or its string), ``"latest"`` or ``"draft"``.

    With ``none_means_draft``, None means the draft, and so does its rendering ``"None"`` (a templated
    ``version`` pulled from the XCom of a draft run renders so).
    """
    if none_means_draft and (version is None or version == "None"):
        return PipelineMode.DRAFT
    if isinstance(version, str) and version.strip().isdigit():
        version = int(version)
    if isinstance(version, int) and not isinstance(version, bool) and version > 0:
        return version
    if isinstance(version, str) and version in (LATEST_VERSION, PipelineMode.DRAFT):
        return version
    allowed = "a version number, 'latest' or 'draft'" + (" (or None for the draft)" if none_means_draft else "")
    raise DataRobotConfigError(f"version must be {allowed}, got {version!r}.")


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
