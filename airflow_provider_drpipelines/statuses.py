"""Status vocabularies of the DataRobot pipelines API, written once for the hook, trigger and emulator.

Plain string constants (not enums): they are compared with raw wire values and carried through
trigger serialization, where a str subclass would only get in the way.
"""

from __future__ import annotations

from typing import Final


class RunStatus:
    """Run ("dispatch") status, as the API spells a run's ``status``; terminal ones end every wait."""

    PENDING: Final = "PENDING"
    PREPARING: Final = "PREPARING"
    RUNNING: Final = "RUNNING"
    COMPLETED: Final = "COMPLETED"
    FAILED: Final = "FAILED"
    CANCELLED: Final = "CANCELLED"
    ERRORED: Final = "ERRORED"


#: A run in one of these is still going: waiting continues.
ACTIVE_RUN_STATUSES: Final = frozenset({RunStatus.PENDING, RunStatus.PREPARING, RunStatus.RUNNING})
#: A run in one of these has ended for good.
TERMINAL_RUN_STATUSES: Final = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.ERRORED}
)
#: The only status a run task succeeds on.
SUCCESS_RUN_STATUSES: Final = frozenset({RunStatus.COMPLETED})
#: Every run status this provider knows; any other ends a wait as a failure.
KNOWN_RUN_STATUSES: Final = ACTIVE_RUN_STATUSES | TERMINAL_RUN_STATUSES


def ends_wait(status: object) -> bool:
    """A status ends a wait when it is terminal, or one we do not know (never mistaken for success).

    :param status: a run's ``status`` as the API sent it (anything that is not a string ends the wait too).
    """
    return not isinstance(status, str) or status in TERMINAL_RUN_STATUSES or status not in KNOWN_RUN_STATUSES


class TaskExecutionStatus:
    """Status of one ``@task`` execution inside a run."""

    PENDING: Final = "PENDING"
    RUNNING: Final = "RUNNING"
    RETRYING: Final = "RETRYING"
    COMPLETED: Final = "COMPLETED"
    FAILED: Final = "FAILED"
    CANCELLED: Final = "CANCELLED"
    ERRORED: Final = "ERRORED"


#: Task-execution statuses whose errors and log tails a failed run's message shows.
FAILED_TASK_STATUSES: Final = frozenset({TaskExecutionStatus.FAILED, TaskExecutionStatus.ERRORED})

#: Run ends caused by the pipeline's own code or by a person: ``retry_failed_runs=False`` retries neither.
#: ERRORED (a platform fault) is not among them; it always stays retryable.
USER_ENDED_RUN_STATUSES: Final = frozenset({RunStatus.FAILED, RunStatus.CANCELLED})


class PipelineMode:
    """A pipeline's mode: an editable draft, or locked (immutable, with numbered versions)."""

    DRAFT: Final = "draft"
    LOCKED: Final = "locked"


#: What a DAG passes as ``version`` for the newest locked version (``PipelineMode.DRAFT`` selects the draft).
LATEST_VERSION: Final = "latest"


class VersionStatus:
    """A pipeline version is PENDING while the service traces it, then READY or FAILED (with errorDetail)."""

    PENDING: Final = "PENDING"
    READY: Final = "READY"
    FAILED: Final = "FAILED"


class InputState:
    """An input's validity as the service judged it; a locked pipeline shows its latest VALID input."""

    VALID: Final = "VALID"
    INVALID: Final = "INVALID"


class ScheduleStatus:
    """A DataRobot-side schedule's status."""

    ACTIVE: Final = "ACTIVE"
    PAUSED: Final = "PAUSED"
    DELETED: Final = "DELETED"


class ImageStatus:
    """An image version is CREATING while it builds, then READY or ERROR (with a build log)."""

    CREATING: Final = "CREATING"
    READY: Final = "READY"
    ERROR: Final = "ERROR"


#: Python versions an execution image may use: the service accepts only these (the CLI checks them client-side too).
IMAGE_PYTHON_VERSIONS: Final = ("3.10", "3.11", "3.12", "3.13")


class RunTrigger:
    """What started a run: an API call (Airflow, the CLI, the SDK) or a DataRobot schedule."""

    API: Final = "api"
    SCHEDULE: Final = "schedule"


#: Reserved top-level key of an input payload that scripts the emulator's outcome for a run.
EMULATOR_SCRIPT_KEY: Final = "_emulator"
