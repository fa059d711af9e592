"""Waiting for something the service builds asynchronously: a pipeline version or an execution image version.

One description of each kind (which call polls it, which statuses end the wait), used by the worker's wait
and by ``DataRobotReadinessTrigger``; the pace is ``_polling.next_poll_delay``, as for runs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from airflow_provider_drpipelines._polling import next_poll_delay
from airflow_provider_drpipelines.exceptions import (
    DataRobotApiError,
    PipelineImageBuildError,
    PipelineNotReadyError,
    PipelineVersionFailedError,
)
from airflow_provider_drpipelines.statuses import ImageStatus, VersionStatus

if TYPE_CHECKING:
    from airflow_provider_drpipelines._endpoints import PipelinesApi
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

R = TypeVar("R")
Kind = Literal["pipeline_version", "image_version"]
PIPELINE_VERSION: Kind = "pipeline_version"
IMAGE_VERSION: Kind = "image_version"
#: Build-log lines shown when an image build ends ERROR.
LOG_TAIL_LINES = 30


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
        """(status, errorDetail) of this target in the answer of :meth:`request`."""
        if self.kind == IMAGE_VERSION:
            versions = body.get("versions") or []
            body = next((v for v in versions if v.get("version") == self.version), {})
        return str(body.get("status")), body.get("errorDetail")

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


def refuse_failed_version(label: str, pipeline: dict[str, Any], number: int) -> int:
    """``number``, unless the pipeline's listing shows that version FAILED: nothing can run it."""
    entry: dict[str, Any] = next((v for v in pipeline.get("versions") or [] if v.get("version") == number), {})
    if entry.get("status") == VersionStatus.FAILED:
        raise PipelineVersionFailedError(
            f"{label} version {number} is FAILED and cannot run: {entry.get('errorDetail') or 'no error detail'}"
        )
    return number


def wait_in_worker(
    hook: DataRobotPipelinesHook,
    target: Target,
    *,
    poll_interval: float,
    max_poll_interval: float,
    deadline: float | None,
) -> tuple[str, str | None]:
    """Poll until READY, FAILED or ERROR; returns (status, errorDetail). The deadline raises."""
    started = time.time()
    while True:
        status, detail = target.status(target.request(hook))
        if target.ends_wait(status):
            return status, detail
        now = time.time()
        if deadline is not None and now >= deadline:
            raise PipelineNotReadyError(f"{target.describe().capitalize()} was still {status} at the timeout.")
        until_deadline = None if deadline is None else deadline - now
        hook.log.info("%s is %s.", target.describe().capitalize(), status)
        time.sleep(next_poll_delay(poll_interval, max_poll_interval, now - started, until_deadline))


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
