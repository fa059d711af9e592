"""A run's dry run: everything that can be checked without creating an input or a run.

Each check ends ``ok``, ``problem`` or ``not checked`` (where the API says nothing to check against), and
every problem is reported at once. It costs a call for the pipeline, one for the image and one for a given
input; a pipeline name costs one more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_drpipelines.client.answers import newest_version, numbered_versions
from airflow_provider_drpipelines.exceptions import ApiNotFoundError, PipelineDryRunError
from airflow_provider_drpipelines.statuses import (
    EMULATOR_SCRIPT_KEY,
    LATEST_VERSION,
    ImageStatus,
    InputState,
    PipelineMode,
    VersionStatus,
)
from airflow_provider_drpipelines.utils.results import task_names

if TYPE_CHECKING:
    from airflow_provider_drpipelines.client.bodies import ImageBody, PipelineBody
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

OK, PROBLEM, NOT_CHECKED = "ok", "problem", "not checked"


@dataclass
class Report:
    pipeline_id: str
    version: int | str
    checks: list[dict[str, str]] = field(default_factory=list)

    def add(self, check: str, result: str, detail: str) -> None:
        self.checks.append({"check": check, "result": result, "detail": detail})

    @property
    def problems(self) -> list[dict[str, str]]:
        return [c for c in self.checks if c["result"] == PROBLEM]

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline_id": self.pipeline_id,
            "version": self.version,
            "ok": not self.problems,
            "checks": self.checks,
        }

    def raise_on_problems(self) -> None:
        if self.problems:
            lines = [f"  - {c['check']}: {c['detail']}" for c in self.problems]
            raise PipelineDryRunError(
                f"Dry run of pipeline {self.pipeline_id} found {len(lines)} problem(s):\n" + "\n".join(lines),
                report=self.as_dict(),
            )


@dataclass(frozen=True)
class RunRequest:
    """What the run operator was asked to run."""

    pipeline_id: str
    version: int | str
    input_id: str | None
    payload: dict[str, Any] | None
    image_id: str | None
    result_tasks: list[str] | None


def dry_run(hook: DataRobotPipelinesHook, request: RunRequest) -> Report:
    report = Report(request.pipeline_id, request.version)
    try:
        pipeline: PipelineBody = hook.get_pipeline(request.pipeline_id)
    except ApiNotFoundError as err:
        report.add("pipeline", PROBLEM, f"pipeline {request.pipeline_id} does not exist ({err.detail})")
        return report
    report.add("pipeline", OK, f"{pipeline.get('name')!r} ({pipeline['mode']})")
    version = _check_version(report, pipeline, request.version)
    _check_image(hook, report, request.image_id or pipeline.get("imageId"))
    _check_payload(report, pipeline.get("inputSetTemplate"), request.payload)
    if request.input_id is not None and version is not None:
        _check_input(hook, report, request.pipeline_id, request.input_id, None if version == 0 else version)
    if request.result_tasks is not None:
        unknown = sorted(set(request.result_tasks) - task_names(f"get_pipeline({request.pipeline_id})", pipeline))
        report.add(
            "push_results",
            PROBLEM if unknown else OK,
            f"unknown task(s): {', '.join(unknown)}" if unknown else "every named task exists",
        )
    return report


def _check_version(report: Report, pipeline: PipelineBody, wanted: int | str) -> int | None:
    """The version number to run (0 for the draft), after checking it is locked and READY; None if missing."""
    versions = numbered_versions(f"get_pipeline({report.pipeline_id})", pipeline)
    locked = pipeline["mode"] == PipelineMode.LOCKED
    if wanted == PipelineMode.DRAFT:
        if locked:
            report.add("version", PROBLEM, "the pipeline is locked; it has no draft to run")
            return None
        report.add("locked", NOT_CHECKED, "running the draft on purpose (version='draft')")
        number = max(versions, default=None)
    else:
        report.add("locked", OK if locked else PROBLEM, "locked" if locked else "the pipeline is a draft: lock it")
        number = max(versions, default=None) if wanted == LATEST_VERSION else int(wanted)
    if number not in versions:
        report.add("version", PROBLEM, f"no version {wanted!r}; versions: {sorted(versions) or 'none'}")
        return None
    status, detail = versions[number].get("status"), versions[number].get("errorDetail")
    ready = status == VersionStatus.READY
    report.add("version", OK if ready else PROBLEM, f"version {number} is {status}" + (f": {detail}" if detail else ""))
    return 0 if wanted == PipelineMode.DRAFT else number


def _check_image(hook: DataRobotPipelinesHook, report: Report, image_id: str | None) -> None:
    if not image_id:
        report.add("image", NOT_CHECKED, "no image given and none linked to the pipeline")
        return
    try:
        image: ImageBody = hook.get_image(image_id)
    except ApiNotFoundError:
        report.add("image", PROBLEM, f"image {image_id} does not exist")
        return
    newest = newest_version(f"get_image({image_id})", image) or {}
    status = newest.get("status")
    report.add(
        "image",
        OK if status == ImageStatus.READY else PROBLEM,
        f"image {image_id} version {newest.get('version')} is {status}",
    )


def _check_payload(report: Report, template: Any, payload: dict[str, Any] | None) -> None:
    """Payload keys against ``inputSetTemplate`` (a JSON object text; keys it leaves null have no default)."""
    if payload is None:
        return
    try:
        parameters = json.loads(template) if isinstance(template, str) else None
    except ValueError:
        parameters = None
    if not isinstance(parameters, dict):
        report.add("payload", NOT_CHECKED, "the pipeline publishes no inputSetTemplate to check the payload against")
        return
    missing = sorted(k for k, default in parameters.items() if default is None and k not in payload)
    unknown = sorted(k for k in payload if k not in parameters and k != EMULATOR_SCRIPT_KEY)
    problems = [f"missing required key {k!r}" for k in missing] + [f"unknown key {k!r}" for k in unknown]
    report.add("payload", PROBLEM if problems else OK, "; ".join(problems) or "fits the pipeline's parameters")


def _check_input(
    hook: DataRobotPipelinesHook, report: Report, pipeline_id: str, input_id: str, version: int | None
) -> None:
    scope = "the draft" if version is None else f"version {version}"
    try:
        found = hook.get_input(pipeline_id, input_id, version)
    except ApiNotFoundError:
        report.add("input", PROBLEM, f"input {input_id} does not exist in {scope}")
        return
    state = found.get("state")
    if state is None:
        report.add("input", NOT_CHECKED, f"input {input_id} exists in {scope}; the API gives no state")
        return
    report.add("input", OK if state == InputState.VALID else PROBLEM, f"input {input_id} is {state}")
