"""Every endpoint of the pipelines API (pipelines-api.md §4), written once.

:class:`PipelinesApi` builds each call and hands it to ``_send``; the sync hook answers with the decoded
body, the async client with an awaitable of it. Scope is said one way everywhere: ``version=None`` is
the draft, ``version=<n>`` the locked version n.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from airflow_provider_drpipelines._wire import MAX_TEXT_BYTES, ApiRequest, UploadFile, check_payload_depth
from airflow_provider_drpipelines.exceptions import DataRobotConfigError

R = TypeVar("R")

MULTIPART_TIMEOUT_SECONDS = 60.0
SourceFile = str | os.PathLike[str] | UploadFile


def require_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataRobotConfigError(f"{what} must be a non-empty string, got {value!r}.")
    return value


def _segment(value: str, what: str) -> str:
    """Percent-encode one path segment, so an id like ``../x`` cannot reach another endpoint."""
    if value in (".", ".."):
        # quote() keeps dots, and HTTP clients resolve dot segments: ``inputs/..`` would name the pipeline.
        raise DataRobotConfigError(f"{what} {value!r} is not a valid id.")
    return quote(require_id(value, what), safe="")


def version_number(version: Any) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DataRobotConfigError(f"A pipeline version must be a positive integer, got {version!r}.")
    return version


def pipeline_path(pipeline_id: str) -> str:
    return f"/pipelines/{_segment(pipeline_id, 'pipeline_id')}"


def scope_path(pipeline_id: str, version: int | None) -> str:
    """Draft scope without a version, locked scope ``/versions/{n}`` with one."""
    base = pipeline_path(pipeline_id)
    return base if version is None else f"{base}/versions/{version_number(version)}"


def _run_path(pipeline_id: str, run_id: str, version: int | None) -> str:
    return f"{scope_path(pipeline_id, version)}/dispatches/{_segment(run_id, 'run_id')}"


def _task_execution_path(pipeline_id: str, run_id: str, task_id: int) -> str:
    # Task executions have no locked variant: they are keyed by the run alone (pipelines-api.md §10.2).
    return f"{_run_path(pipeline_id, run_id, None)}/tasks/{_positive_int(task_id, 'task_id')}"


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataRobotConfigError(f"{what} must be a positive integer, got {value!r}.")
    return value


def json_object_payload(payload: Any) -> dict[str, Any]:
    """An input payload must be a JSON object; anything else is refused before reaching the API."""
    if not isinstance(payload, dict):
        raise DataRobotConfigError(
            f"A pipeline input payload must be a JSON object (a dict), got {type(payload).__name__}."
        )
    check_payload_depth(payload)
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise DataRobotConfigError(f"The pipeline input payload is not JSON-serialisable: {err}") from err
    return payload


def _upload(source: SourceFile) -> UploadFile:
    if isinstance(source, UploadFile):
        return source
    path = Path(source)
    if path.suffix != ".py" or not path.is_file():
        raise DataRobotConfigError(f"Pipeline source {str(path)!r} is not an existing .py file.")
    return UploadFile(filename=path.name, content=path.read_bytes())


def _listing(path: str, offset: int | None, limit: int | None, **params: Any) -> ApiRequest:
    return ApiRequest("GET", path, required=("data",)).with_params(offset=offset, limit=limit, **params)


def _form(**fields: str | None) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value is not None}


class PipelinesApi(Generic[R]):
    """The endpoint catalogue; subclasses implement ``_send``."""

    def _send(self, request: ApiRequest) -> R:
        raise NotImplementedError

    # --- pipelines ---------------------------------------------------------------------------
    def create_pipeline(
        self,
        source: SourceFile,
        *,
        name: str | None = None,
        description: str | None = None,
        mode: Literal["draft", "locked"] | None = None,
        image_id: str | None = None,
    ) -> R:
        form = _form(name=name, description=description, mode=mode, image_id=image_id)
        return self._send(
            ApiRequest(
                "POST",
                "/pipelines",
                form=form,
                file=_upload(source),
                creates=True,
                required=("id",),
                timeout=MULTIPART_TIMEOUT_SECONDS,
            )
        )

    def list_pipelines(
        self,
        *,
        mode: Literal["draft", "locked"] | None = None,
        search: str | None = None,
        offset: int | None = None,
        limit: int | None = None,
    ) -> R:
        return self._send(_listing("/pipelines", offset, limit, mode=mode, search=search))

    def get_pipeline(self, pipeline_id: str) -> R:
        return self._send(ApiRequest("GET", pipeline_path(pipeline_id), required=("id", "mode")))

    def update_pipeline(
        self,
        pipeline_id: str,
        source: SourceFile | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        image_id: str | None = None,
    ) -> R:
        """A new source appends a version; without one only the metadata changes."""
        form = _form(name=name, description=description, image_id=image_id)
        upload = None if source is None else _upload(source)
        if upload is None and not form:
            raise DataRobotConfigError("update_pipeline needs a source file or at least one field to change.")
        return self._send(
            ApiRequest(
                "PATCH",
                pipeline_path(pipeline_id),
                form=form,
                file=upload,
                required=("id",),
                timeout=MULTIPART_TIMEOUT_SECONDS,
            )
        )

    def delete_pipeline(self, pipeline_id: str) -> R:
        return self._send(ApiRequest("DELETE", pipeline_path(pipeline_id), answer="none"))

    def lock_pipeline(self, pipeline_id: str) -> R:
        """Promote the draft to locked: immutable, runnable as a version."""
        return self._send(ApiRequest("PATCH", f"{pipeline_path(pipeline_id)}/mode", required=("id", "version")))

    def clone_pipeline(self, pipeline_id: str, name: str | None = None) -> R:
        body = {} if name is None else {"name": name}
        return self._send(
            ApiRequest("POST", f"{pipeline_path(pipeline_id)}/clone", json=body, creates=True, required=("id",))
        )

    def get_pipeline_source(self, pipeline_id: str, version: int | None = None) -> R:
        path = f"{scope_path(pipeline_id, version)}/source"
        return self._send(ApiRequest("GET", path, required=("source",), max_bytes=MAX_TEXT_BYTES))

    def get_pipeline_task(self, pipeline_id: str, task_id: int, version: int | None = None) -> R:
        path = f"{scope_path(pipeline_id, version)}/tasks/{_positive_int(task_id, 'task_id')}"
        return self._send(ApiRequest("GET", path, required=("id", "name")))

    def get_graph(self, pipeline_id: str, version: int | None = None) -> R:
        return self._send(ApiRequest("GET", f"{scope_path(pipeline_id, version)}/graph", required=("nodes",)))

    # --- versions ----------------------------------------------------------------------------
    def list_versions(self, pipeline_id: str, *, offset: int | None = None, limit: int | None = None) -> R:
        return self._send(_listing(f"{pipeline_path(pipeline_id)}/versions", offset, limit))

    def get_version(self, pipeline_id: str, version: int) -> R:
        return self._send(ApiRequest("GET", scope_path(pipeline_id, version), required=("version", "status")))

    # --- inputs ------------------------------------------------------------------------------
    def create_input(self, pipeline_id: str, payload: dict[str, Any], version: int | None = None) -> R:
        body = {"payload": json_object_payload(payload)}
        path = f"{scope_path(pipeline_id, version)}/inputs"
        return self._send(ApiRequest("POST", path, json=body, creates=True, required=("id",)))

    def list_inputs(
        self,
        pipeline_id: str,
        version: int | None = None,
        *,
        offset: int | None = None,
        limit: int | None = None,
    ) -> R:
        return self._send(_listing(f"{scope_path(pipeline_id, version)}/inputs", offset, limit))

    def get_input(self, pipeline_id: str, input_id: str, version: int | None = None) -> R:
        path = f"{scope_path(pipeline_id, version)}/inputs/{_segment(input_id, 'input_id')}"
        return self._send(ApiRequest("GET", path, required=("id", "payload")))

    def update_input(self, pipeline_id: str, input_id: str, payload: dict[str, Any]) -> R:
        """Draft inputs only: locked inputs are immutable (409)."""
        path = f"{scope_path(pipeline_id, None)}/inputs/{_segment(input_id, 'input_id')}"
        body = {"payload": json_object_payload(payload)}
        return self._send(ApiRequest("PATCH", path, json=body, required=("id",)))

    def delete_input(self, pipeline_id: str, input_id: str, version: int | None = None) -> R:
        path = f"{scope_path(pipeline_id, version)}/inputs/{_segment(input_id, 'input_id')}"
        return self._send(ApiRequest("DELETE", path, answer="none"))

    # --- runs ("dispatches" on the wire) ------------------------------------------------------
    def create_run(self, pipeline_id: str, input_id: str, version: int | None = None, image_id: str | None = None) -> R:
        body = {"inputId": require_id(input_id, "input_id")}
        if image_id is not None:
            body["imageId"] = image_id
        path = f"{scope_path(pipeline_id, version)}/dispatches"
        return self._send(ApiRequest("POST", path, json=body, creates=True, required=("id", "status")))

    def list_runs(
        self,
        pipeline_id: str,
        version: int | None = None,
        *,
        offset: int | None = None,
        limit: int | None = None,
    ) -> R:
        return self._send(_listing(f"{scope_path(pipeline_id, version)}/dispatches", offset, limit))

    def get_run(self, pipeline_id: str, run_id: str, version: int | None = None) -> R:
        return self._send(ApiRequest("GET", _run_path(pipeline_id, run_id, version), required=("id", "status")))

    def get_run_status(self, pipeline_id: str, run_id: str, version: int | None = None) -> R:
        """The lightweight poll: ``{id, status, covalentDispatchId}``."""
        path = f"{_run_path(pipeline_id, run_id, version)}/status"
        return self._send(ApiRequest("GET", path, required=("status",)))

    def cancel_run(self, pipeline_id: str, run_id: str, version: int | None = None) -> R:
        """204 on a live run; 409 when it is already terminal."""
        return self._send(ApiRequest("DELETE", _run_path(pipeline_id, run_id, version), answer="none"))

    # --- task executions of a run ------------------------------------------------------------
    def list_task_executions(self, pipeline_id: str, run_id: str) -> R:
        """A bare JSON array (no page envelope), empty while the run is PENDING or PREPARING."""
        return self._send(ApiRequest("GET", f"{_run_path(pipeline_id, run_id, None)}/tasks", answer="array"))

    def get_task_execution(self, pipeline_id: str, run_id: str, task_id: int, node_id: int | None = None) -> R:
        path = _task_execution_path(pipeline_id, run_id, task_id)
        return self._send(ApiRequest("GET", path, required=("status",)).with_params(nodeId=node_id))

    def get_task_execution_logs(
        self,
        pipeline_id: str,
        run_id: str,
        task_id: int,
        *,
        tail_lines: int | None = None,
        verbosity: Literal["user", "all"] | None = None,
        node_id: int | None = None,
    ) -> R:
        """Live logs, kept by the service about a minute after the task's pod ends."""
        path = f"{_task_execution_path(pipeline_id, run_id, task_id)}/logs"
        request = ApiRequest("GET", path, required=("logs",), max_bytes=MAX_TEXT_BYTES)
        return self._send(request.with_params(tail_lines=tail_lines, verbosity=verbosity, nodeId=node_id))

    def get_task_execution_durable_logs(
        self,
        pipeline_id: str,
        run_id: str,
        task_id: int,
        stream: Literal["stdout", "stderr"] = "stderr",
        *,
        verbosity: Literal["user", "all"] | None = None,
        node_id: int | None = None,
    ) -> R:
        if stream not in ("stdout", "stderr"):
            raise DataRobotConfigError(f"Log stream must be 'stdout' or 'stderr', got {stream!r}.")
        path = f"{_task_execution_path(pipeline_id, run_id, task_id)}/logs/{stream}"
        request = ApiRequest("GET", path, required=("content",), max_bytes=MAX_TEXT_BYTES)
        return self._send(request.with_params(verbosity=verbosity, nodeId=node_id))

    def get_task_execution_result(self, pipeline_id: str, run_id: str, task_id: int, node_id: int | None = None) -> R:
        """409 until the task is COMPLETED."""
        path = f"{_task_execution_path(pipeline_id, run_id, task_id)}/result"
        return self._send(ApiRequest("GET", path, required=("url",)).with_params(nodeId=node_id))

    # --- schedules (locked versions only; snake_case body) ------------------------------------
    def create_schedule(
        self,
        pipeline_id: str,
        version: int,
        input_id: str,
        image_id: str,
        image_version: int,
        cron_expression: str,
        timezone: str | None = None,
    ) -> R:
        body: dict[str, Any] = {
            "cron_expression": cron_expression,
            "pipeline_version_id": version_number(version),
            "pipeline_input_id": input_id,
            "image_id": image_id,
            "image_version": _positive_int(image_version, "image_version"),
        }
        if timezone is not None:
            body["timezone"] = timezone
        path = f"{pipeline_path(pipeline_id)}/schedules"
        return self._send(ApiRequest("POST", path, json=body, creates=True, required=("id",)))

    def list_schedules(self, pipeline_id: str, *, offset: int | None = None, limit: int | None = None) -> R:
        return self._send(_listing(f"{pipeline_path(pipeline_id)}/schedules", offset, limit))

    def get_schedule(self, pipeline_id: str, schedule_id: str) -> R:
        path = f"{pipeline_path(pipeline_id)}/schedules/{_segment(schedule_id, 'schedule_id')}"
        return self._send(ApiRequest("GET", path, required=("id",)))

    def update_schedule(
        self,
        pipeline_id: str,
        schedule_id: str,
        *,
        cron_expression: str | None = None,
        timezone: str | None = None,
    ) -> R:
        body = {k: v for k, v in (("cron_expression", cron_expression), ("timezone", timezone)) if v is not None}
        if not body:
            raise DataRobotConfigError("update_schedule needs cron_expression or timezone.")
        path = f"{pipeline_path(pipeline_id)}/schedules/{_segment(schedule_id, 'schedule_id')}"
        return self._send(ApiRequest("PATCH", path, json=body, required=("id",)))

    def delete_schedule(self, pipeline_id: str, schedule_id: str) -> R:
        path = f"{pipeline_path(pipeline_id)}/schedules/{_segment(schedule_id, 'schedule_id')}"
        return self._send(ApiRequest("DELETE", path, answer="none"))

    # --- execution images --------------------------------------------------------------------
    def create_image(
        self,
        name: str,
        *,
        packages: list[str] | None = None,
        conda: list[str] | dict[str, list[str]] | None = None,
        python_version: str | None = None,
        gpu: bool | None = None,
        description: str | None = None,
    ) -> R:
        body = _image_body(name, packages, conda, python_version, gpu)
        if description is not None:
            body["description"] = description
        return self._send(ApiRequest("POST", "/pipelines/images", json=body, creates=True, required=("id",)))

    def list_images(self, *, offset: int | None = None, limit: int | None = None) -> R:
        return self._send(_listing("/pipelines/images", offset, limit))

    def get_image(self, image_id: str) -> R:
        path = f"/pipelines/images/{_segment(image_id, 'image_id')}"
        return self._send(ApiRequest("GET", path, required=("id",)))

    def update_image(
        self,
        image_id: str,
        name: str,
        *,
        packages: list[str] | None = None,
        conda: list[str] | dict[str, list[str]] | None = None,
        python_version: str | None = None,
        gpu: bool | None = None,
    ) -> R:
        """A full replacement that becomes the image's next immutable version."""
        path = f"/pipelines/images/{_segment(image_id, 'image_id')}"
        body = _image_body(name, packages, conda, python_version, gpu)
        return self._send(ApiRequest("PATCH", path, json=body, required=("id",)))

    def delete_image(self, image_id: str) -> R:
        return self._send(ApiRequest("DELETE", f"/pipelines/images/{_segment(image_id, 'image_id')}", answer="none"))

    def delete_image_version(self, image_id: str, version: int) -> R:
        path = f"/pipelines/images/{_segment(image_id, 'image_id')}/versions/{version_number(version)}"
        return self._send(ApiRequest("DELETE", path, answer="none"))

    def get_image_version_logs(self, image_id: str, version: int) -> R:
        path = f"/pipelines/images/{_segment(image_id, 'image_id')}/versions/{version_number(version)}/logs"
        return self._send(ApiRequest("GET", path, required=("logs",), max_bytes=MAX_TEXT_BYTES))

    # --- service -----------------------------------------------------------------------------
    def get_api_version(self) -> R:
        return self._send(ApiRequest("GET", "/version/", required=("versionString",)))


def _image_body(
    name: str,
    packages: list[str] | None,
    conda: list[str] | dict[str, list[str]] | None,
    python_version: str | None,
    gpu: bool | None,
) -> dict[str, Any]:
    if not packages and not conda:
        raise DataRobotConfigError(f"Image {name!r} needs pip packages or conda dependencies.")
    body: dict[str, Any] = {"name": name}
    for key, value in (("pip", packages), ("conda", conda), ("pythonVersion", python_version), ("gpu", gpu)):
        if value is not None:
            body[key] = value
    return body
