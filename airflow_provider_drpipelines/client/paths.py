"""How the endpoints address the API: ids checked and percent-encoded into paths, scopes, listings,
uploads and payloads checked before any call, and the one method every part of the catalogue calls."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from airflow_provider_drpipelines.client.limits import check_payload_depth, check_payload_size
from airflow_provider_drpipelines.client.wire import ApiRequest, UploadFile
from airflow_provider_drpipelines.exceptions import DataRobotConfigError

R = TypeVar("R")

MULTIPART_TIMEOUT_SECONDS = 60.0
SourceFile = str | os.PathLike[str] | UploadFile


def require_id(value: Any, what: str) -> str:
    """``value`` itself when it is a non-blank string, so a missing id fails before any call.

    :param value: the id to check.
    :param what: its name in the error message.
    :raises DataRobotConfigError: otherwise.
    """
    if not isinstance(value, str) or not value.strip():
        raise DataRobotConfigError(f"{what} must be a non-empty string, got {value!r}.")
    return value


def path_segment(value: str, what: str) -> str:
    """Percent-encode one path segment, so an id like ``../x`` cannot reach another endpoint."""
    if value in (".", ".."):
        # quote() keeps dots, and HTTP clients resolve dot segments: ``inputs/..`` would name the pipeline.
        raise DataRobotConfigError(f"{what} {value!r} is not a valid id.")
    return quote(require_id(value, what), safe="")


def version_number(version: Any) -> int:
    """``version`` itself when it is a positive int (a bool is not a version number).

    :param version: the locked version number to check.
    :raises DataRobotConfigError: otherwise.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DataRobotConfigError(f"A pipeline version must be a positive integer, got {version!r}.")
    return version


def pipeline_path(pipeline_id: str) -> str:
    """``/pipelines/{id}`` with the id percent-encoded as one path segment."""
    return f"/pipelines/{path_segment(pipeline_id, 'pipeline_id')}"


def scope_path(pipeline_id: str, version: int | None) -> str:
    """Draft scope without a version, locked scope ``/versions/{n}`` with one.

    :param pipeline_id: the pipeline's id.
    :param version: ``None`` for the draft, a number for that locked version.
    """
    base = pipeline_path(pipeline_id)
    return base if version is None else f"{base}/versions/{version_number(version)}"


def run_path(pipeline_id: str, run_id: str, version: int | None) -> str:
    return f"{scope_path(pipeline_id, version)}/dispatches/{path_segment(run_id, 'run_id')}"


def task_execution_path(pipeline_id: str, run_id: str, task_id: int) -> str:
    # Task executions have no locked variant: the API keys them by the run alone (no /versions/{n} in the path).
    return f"{run_path(pipeline_id, run_id, None)}/tasks/{positive_int(task_id, 'task_id')}"


def positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataRobotConfigError(f"{what} must be a positive integer, got {value!r}.")
    return value


def json_object_payload(payload: Any) -> dict[str, Any]:
    """An input payload must be a JSON object; anything else is refused before reaching the API.

    :param payload: the input payload to check.
    :return: ``payload`` itself.
    :raises DataRobotConfigError: when it is not a dict, nests too deep, is not JSON-serialisable or is too large
        for its create's answer (which echoes it) to be read back.
    """
    if not isinstance(payload, dict):
        raise DataRobotConfigError(
            f"A pipeline input payload must be a JSON object (a dict), got {type(payload).__name__}."
        )
    check_payload_depth(payload)
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise DataRobotConfigError(f"The pipeline input payload is not JSON-serialisable: {err}") from err
    check_payload_size(payload)
    return payload


def upload_file(source: SourceFile) -> UploadFile:
    if isinstance(source, UploadFile):
        return source
    path = Path(source)
    if path.suffix != ".py" or not path.is_file():
        raise DataRobotConfigError(f"Pipeline source {str(path)!r} is not an existing .py file.")
    return UploadFile(filename=path.name, content=path.read_bytes())


def listing(path: str, offset: int | None, limit: int | None, **params: Any) -> ApiRequest:
    return ApiRequest("GET", path, required=("data",)).with_params(offset=offset, limit=limit, **params)


def form_fields(**fields: str | None) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value is not None}


class Endpoints(Generic[R]):
    """The one method every part of the catalogue calls; the hook and the async client implement it."""

    def _send(self, request: ApiRequest) -> R:
        raise NotImplementedError
