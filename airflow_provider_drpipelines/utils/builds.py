"""Waiting for something the service builds asynchronously: a pipeline version or an execution image version.

One description of each kind (which call polls it, which statuses end the wait), used by the worker's wait
and by ``DataRobotReadinessTrigger``; the pace is ``client.polling.next_poll_delay``, as for runs.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

from airflow_provider_drpipelines.client.answers import numbered_versions, optional
from airflow_provider_drpipelines.client.polling import poll_in_worker
from airflow_provider_drpipelines.exceptions import (
    DataRobotApiError,
    PipelineImageBuildError,
    PipelineNotReadyError,
    PipelineVersionFailedError,
)
from airflow_provider_drpipelines.statuses import ImageStatus, VersionStatus

if TYPE_CHECKING:
    from airflow_provider_drpipelines.client.endpoints import PipelinesApi
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

R = TypeVar("R")
Kind = Literal["pipeline_version", "image_version"]
PIPELINE_VERSION: Kind = "pipeline_version"
IMAGE_VERSION: Kind = "image_version"
#: Build-log lines shown when an image build ends ERROR.
LOG_TAIL_LINES = 30
#: Polls in a row that may show a status this provider does not know, or no target at all (a listing that
#: lags a build just started), before a wait gives up: it fails closed, as a run with an unknown status does.
MAX_UNKNOWN_POLLS = 3
#: The status of an image version its image no longer lists (deleted while it was waited for).
NOT_LISTED = "(not listed)"


@dataclass(frozen=True)
class Target:
    """Version ``version`` of pipeline or image ``resource_id``."""

    kind: Kind
    resource_id: str
    version: int

    def request(self, api: PipelinesApi[R]) -> R:
        """The one call that tells this target's status."""
        if self.kind == PIPELINE_VERSION:
            return api.get_version(self.resource_id, self.version)
        return api.get_image(self.resource_id)

    def status(self, body: dict[str, Any]) -> tuple[str, str | None]:
        """(status, errorDetail) of this target in the answer of :meth:`request`; ``NOT_LISTED`` when it is gone."""
        call = f"{'get_version' if self.kind == PIPELINE_VERSION else 'get_image'}({self.resource_id})"
        if self.kind == IMAGE_VERSION:
            entry = numbered_versions(call, body).get(self.version)
            if entry is None:
                return NOT_LISTED, None
            body = entry
        status = body.get("status")
        return (status if isinstance(status, str) else repr(status)), optional(call, body, "errorDetail", str)

    @property
    def known_statuses(self) -> frozenset[str]:
        if self.kind == PIPELINE_VERSION:
            return frozenset({VersionStatus.PENDING, VersionStatus.READY, VersionStatus.FAILED})
        return frozenset({ImageStatus.CREATING, ImageStatus.READY, ImageStatus.ERROR})

    def unknown_streak(self, status: str, streak: int) -> tuple[int, str | None]:
        """Polls in a row with an unknown status or no target, counting this one, and why to stop once too many."""
        if status in self.known_statuses:
            return 0, None
        streak += 1
        if streak < MAX_UNKNOWN_POLLS:
            return streak, None
        what = self.describe().capitalize()
        problem = (
            f"{what} is no longer listed (deleted?)"
            if status == NOT_LISTED
            else f"{what} reports the status {_shown_status(status)}, which this provider does not know"
        )
        return streak, f"{problem}, {streak} polls in a row; stopped waiting for it."

    @property
    def ready(self) -> str:
        return VersionStatus.READY if self.kind == PIPELINE_VERSION else ImageStatus.READY

    @property
    def failed(self) -> str:
        return VersionStatus.FAILED if self.kind == PIPELINE_VERSION else ImageStatus.ERROR

    def ends_wait(self, status: str) -> bool:
        return status in (self.ready, self.failed)

    def describe(self) -> str:
        what = "pipeline" if self.kind == PIPELINE_VERSION else "image"
        return f"version {self.version} of {what} {self.resource_id}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wait_in_worker(
    hook: DataRobotPipelinesHook,
    target: Target,
    *,
    poll_interval: float,
    max_poll_interval: float,
    deadline: float | None,
) -> tuple[str, str | None]:
    """Poll until READY, FAILED or ERROR; returns (status, errorDetail).

    The deadline raises, and so do ``MAX_UNKNOWN_POLLS`` polls in a row of an unknown status or a vanished target.
    """
    streak = 0

    def poll() -> tuple[str, str | None]:
        nonlocal streak
        answer = target.status(target.request(hook))
        if not target.ends_wait(answer[0]):
            streak, stop = target.unknown_streak(answer[0], streak)
            if stop is not None:
                raise PipelineNotReadyError(stop)
        return answer

    def timed_out(answer: tuple[str, str | None]) -> NoReturn:
        raise PipelineNotReadyError(f"{target.describe().capitalize()} was still {answer[0]} at the timeout.")

    return poll_in_worker(
        poll,
        lambda answer: target.ends_wait(answer[0]),
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
        started_at=time.time(),
        deadline=deadline,
        timed_out=timed_out,
        waiting=lambda answer: hook.log.info("%s is %s.", target.describe().capitalize(), answer[0]),
    )


def raise_unless_ready(hook: DataRobotPipelinesHook, target: Target, status: str, detail: str | None) -> None:
    """READY returns; a FAILED version raises with its errorDetail, an ERROR image with its build log's tail."""
    if status == target.ready:
        hook.log.info("%s is %s.", target.describe().capitalize(), status)
        return
    if target.kind == PIPELINE_VERSION:
        raise PipelineVersionFailedError(
            f"{target.describe().capitalize()} is {status}: {detail or 'the service gave no error detail'}"
        )
    raise PipelineImageBuildError(
        f"{target.describe().capitalize()} is {status}: {detail or 'no error detail'}\n{build_log_tail(hook, target)}"
    )


def build_log_tail(hook: DataRobotPipelinesHook, target: Target) -> str:
    """The last lines of an image version's build log; best effort, never hiding the build's failure."""
    try:
        logs = str(hook.get_image_version_logs(target.resource_id, target.version)["logs"])
    except DataRobotApiError as err:
        return f"(The build log could not be fetched: {err})"
    tail = logs.splitlines()[-LOG_TAIL_LINES:]
    return "\n".join([f"Last {len(tail)} build log line(s):", *(f"  {line}" for line in tail)])


def _shown_status(status: str) -> str:
    """A status word quoted as the server sent it; anything else (long, odd, maybe an echoed secret) is not."""
    return repr(status) if re.fullmatch(r"[A-Z][A-Z_]{0,39}", status) else "that is not a status word (not quoted)"
