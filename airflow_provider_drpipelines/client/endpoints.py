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

from airflow_provider_drpipelines.client.limits import check_payload_depth, check_payload_size
from airflow_provider_drpipelines.client.wire import MAX_TEXT_BYTES, ApiRequest, UploadFile
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


def _segment(value: str, what: str) -> str:
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
    return f"/pipelines/{_segment(pipeline_id, 'pipeline_id')}"


def scope_path(pipeline_id: str, version: int | None) -> str:
    """Draft scope without a version, locked scope ``/versions/{n}`` with one.

    :param pipeline_id: the pipeline's id.
    :param version: ``None`` for the draft, a number for that locked version.
    """
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
    """The endpoint catalogue, written once for both clients; subclasses implement ``_send``.

    :class:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook` inherits every method here and returns
    the decoded JSON body (a dict, a list for :meth:`list_task_executions`, None for a 204);
    :class:`~airflow_provider_drpipelines.client.async_client.DataRobotPipelinesAsyncClient` returns an awaitable of
    the same. Scope is said one way everywhere: ``version=None`` is the draft, ``version=<n>`` the locked
    version n. Ids are percent-encoded into the path, and an argument the API would refuse raises
    :class:`~airflow_provider_drpipelines.exceptions.DataRobotConfigError` before any call. An error answer
    raises the matching :class:`~airflow_provider_drpipelines.exceptions.DataRobotApiError` subclass, after
    the client's retries for transient failures; creates are never re-sent blindly.
    """

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
        """Upload a pipeline source file as a new pipeline (a draft unless ``mode="locked"``).

        :param source: the pipeline's ``.py`` file (a path), or an ``UploadFile`` with its name and bytes.
        :param name: display name.
        :param description: free text shown in DataRobot.
        :param mode: ``"draft"`` (editable) or ``"locked"`` (immutable, with a version number to run).
        :param image_id: the execution image the pipeline's tasks run in.
        :return: the created pipeline (``id``, ``name``, ``mode``, ``version``, ...).
        :raises DataRobotConfigError: when ``source`` is not an existing ``.py`` file.
        """
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
        """Pipelines visible to the token, one page at a time.

        :param mode: only ``"draft"`` or only ``"locked"`` pipelines.
        :param search: a substring of the pipeline name.
        :param offset: index of the first item to return (default: the server's, 0).
        :param limit: items per page, 1-200 (default: the server's);
            :meth:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook.iterate` walks every page.
        :return: one page: ``{data, count, next, previous, totalCount}``.
        """
        return self._send(_listing("/pipelines", offset, limit, mode=mode, search=search))

    def get_pipeline(self, pipeline_id: str) -> R:
        """One pipeline with its ``mode`` and ``versions``.

        :param pipeline_id: the pipeline's id.
        :return: the pipeline (``id``, ``name``, ``mode``, ``versions``, ...).
        :raises ApiNotFoundError: when it does not exist or the token cannot see it.
        """
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
        """Change a pipeline: a new source appends a version; without one only the metadata changes.

        :param pipeline_id: the pipeline's id.
        :param source: a new ``.py`` source file (or ``UploadFile``) whose pipeline name matches this pipeline's
            (400 otherwise); None keeps the current source.
        :param name: new display name.
        :param description: new description.
        :param image_id: new execution image.
        :return: the updated pipeline.
        :raises DataRobotConfigError: with nothing to change, before any call.
        :raises ApiConflictError: when the pipeline is locked.
        """
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
        """Delete a pipeline (a soft delete on the service).

        :param pipeline_id: the pipeline's id.
        :return: None (the API answers 204).
        """
        return self._send(ApiRequest("DELETE", pipeline_path(pipeline_id), answer="none"))

    def lock_pipeline(self, pipeline_id: str) -> R:
        """Promote the draft to locked: immutable, runnable as a version.

        Only locked versions run from the run operator by default, so a DAG cannot pick up an edit in progress.

        :param pipeline_id: the pipeline's id.
        :return: the pipeline with its new ``version`` number.
        :raises ApiConflictError: when it is already locked.
        """
        return self._send(ApiRequest("PATCH", f"{pipeline_path(pipeline_id)}/mode", required=("id", "version")))

    def clone_pipeline(self, pipeline_id: str, name: str | None = None) -> R:
        """Copy a pipeline (source, description, latest input, image) into a new draft.

        :param pipeline_id: the pipeline's id.
        :param name: the clone's name (the server's default: ``"Clone of <name>"``).
        :return: the new draft pipeline (``id``, ...).
        """
        body = {} if name is None else {"name": name}
        return self._send(
            ApiRequest("POST", f"{pipeline_path(pipeline_id)}/clone", json=body, creates=True, required=("id",))
        )

    def get_pipeline_source(self, pipeline_id: str, version: int | None = None) -> R:
        """The Python source of the draft or of a locked version.

        :param pipeline_id: the pipeline's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :return: ``{source, ...}``; answers of up to 64 MiB are accepted.
        """
        path = f"{scope_path(pipeline_id, version)}/source"
        return self._send(ApiRequest("GET", path, required=("source",), max_bytes=MAX_TEXT_BYTES))

    def get_pipeline_task(self, pipeline_id: str, task_id: int, version: int | None = None) -> R:
        """One ``@task`` of a pipeline as declared in its source (not an execution of it).

        :param pipeline_id: the pipeline's id.
        :param task_id: the task's number in the pipeline.
        :param version: ``None`` for the draft, a number for that locked version.
        :return: the task (``id``, ``name``, ...).
        """
        path = f"{scope_path(pipeline_id, version)}/tasks/{_positive_int(task_id, 'task_id')}"
        return self._send(ApiRequest("GET", path, required=("id", "name")))

    def get_graph(self, pipeline_id: str, version: int | None = None) -> R:
        """The pipeline's task graph: what its tasks are and how data flows between them.

        :param pipeline_id: the pipeline's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :return: ``{pipeline, nodes, edges}``.
        """
        return self._send(ApiRequest("GET", f"{scope_path(pipeline_id, version)}/graph", required=("nodes",)))

    # --- versions ----------------------------------------------------------------------------
    def list_versions(self, pipeline_id: str, *, offset: int | None = None, limit: int | None = None) -> R:
        """The locked versions of a pipeline, one page at a time.

        :param pipeline_id: the pipeline's id.
        :param offset: index of the first item to return (default: the server's, 0).
        :param limit: items per page, 1-200 (default: the server's);
            :meth:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook.iterate` walks every page.
        :return: one page: ``{data, count, next, previous, totalCount}``.
        """
        return self._send(_listing(f"{pipeline_path(pipeline_id)}/versions", offset, limit))

    def get_version(self, pipeline_id: str, version: int) -> R:
        """One locked version with its build ``status`` (PENDING, READY or FAILED).

        :param pipeline_id: the pipeline's id.
        :param version: the version number.
        :return: the version (``version``, ``status``, ``pythonVersion``, ``taskNames``, ...).
        """
        return self._send(ApiRequest("GET", scope_path(pipeline_id, version), required=("version", "status")))

    # --- inputs ------------------------------------------------------------------------------
    def create_input(self, pipeline_id: str, payload: dict[str, Any], version: int | None = None) -> R:
        """Store a payload as a pipeline input; a run reads its arguments from one.

        Not retried blindly: use
        :meth:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook.create_input_exactly_once` when a lost
        answer must not leave a duplicate.

        :param pipeline_id: the pipeline's id.
        :param payload: the run's arguments, a JSON object (nested at most a bounded depth).
        :param version: ``None`` for a draft input, a number for an input of that locked version; a run uses an
            input of its own scope.
        :return: the created input (``id``, ``payload``, ``state``, ...).
        :raises DataRobotConfigError: when ``payload`` is not a JSON-serialisable dict, before any call.
        """
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
        """Inputs of the draft or of a locked version, one page at a time.

        :param pipeline_id: the pipeline's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :param offset: index of the first item to return (default: the server's, 0).
        :param limit: items per page, 1-200 (default: the server's);
            :meth:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook.iterate` walks every page.
        :return: one page: ``{data, count, next, previous, totalCount}``.
        """
        return self._send(_listing(f"{scope_path(pipeline_id, version)}/inputs", offset, limit))

    def get_input(self, pipeline_id: str, input_id: str, version: int | None = None) -> R:
        """One input with its payload.

        :param pipeline_id: the pipeline's id.
        :param input_id: the input's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :return: the input (``id``, ``payload``, ``state``, ...).
        """
        path = f"{scope_path(pipeline_id, version)}/inputs/{_segment(input_id, 'input_id')}"
        return self._send(ApiRequest("GET", path, required=("id", "payload")))

    def update_input(self, pipeline_id: str, input_id: str, payload: dict[str, Any]) -> R:
        """Replace a draft input's payload. Draft inputs only: locked inputs are immutable (409).

        :param pipeline_id: the pipeline's id.
        :param input_id: the draft input's id.
        :param payload: the new payload, a JSON object.
        :return: the updated input.
        :raises DataRobotConfigError: when ``payload`` is not a JSON-serialisable dict, before any call.
        """
        path = f"{scope_path(pipeline_id, None)}/inputs/{_segment(input_id, 'input_id')}"
        body = {"payload": json_object_payload(payload)}
        return self._send(ApiRequest("PATCH", path, json=body, required=("id",)))

    def delete_input(self, pipeline_id: str, input_id: str, version: int | None = None) -> R:
        """Delete an input.

        :param pipeline_id: the pipeline's id.
        :param input_id: the input's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :return: None (the API answers 204).
        :raises ApiConflictError: when the service keeps the input (a locked input).
        """
        path = f"{scope_path(pipeline_id, version)}/inputs/{_segment(input_id, 'input_id')}"
        return self._send(ApiRequest("DELETE", path, answer="none"))

    # --- runs ("dispatches" on the wire) ------------------------------------------------------
    def create_run(self, pipeline_id: str, input_id: str, version: int | None = None, image_id: str | None = None) -> R:
        """Start a run of an input.

        Not retried blindly: the operators use
        :meth:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook.create_run_exactly_once`, which adopts the run
        a lost answer created instead of starting a second one.

        :param pipeline_id: the pipeline's id.
        :param input_id: the input to run; it must belong to the same scope (draft or that version).
        :param version: ``None`` for the draft, a number for that locked version.
        :param image_id: run in this execution image instead of the pipeline's.
        :return: the run (``id``, ``status``, ...).
        """
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
        """Runs of the draft or of a locked version, one page at a time.

        :param pipeline_id: the pipeline's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :param offset: index of the first item to return (default: the server's, 0).
        :param limit: items per page, 1-200 (default: the server's);
            :meth:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook.iterate` walks every page.
        :return: one page: ``{data, count, next, previous, totalCount}``.
        """
        return self._send(_listing(f"{scope_path(pipeline_id, version)}/dispatches", offset, limit))

    def get_run(self, pipeline_id: str, run_id: str, version: int | None = None) -> R:
        """One run in full (status, input, timestamps, ``errorDetail``).

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id (a "dispatch" on the wire).
        :param version: ``None`` for the draft, a number for that locked version.
        :return: the run (``id``, ``status``, ``inputId``, ``createdAt``, ...).
        """
        return self._send(ApiRequest("GET", _run_path(pipeline_id, run_id, version), required=("id", "status")))

    def get_run_status(self, pipeline_id: str, run_id: str, version: int | None = None) -> R:
        """The lightweight poll: ``{id, status, covalentDispatchId}``.

        Cheaper than :meth:`get_run`, so the trigger and the worker's wait poll only this.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id (a "dispatch" on the wire).
        :param version: ``None`` for the draft, a number for that locked version.
        :return: ``{id, status, covalentDispatchId}``; see :class:`~airflow_provider_drpipelines.statuses.RunStatus`.
        """
        path = f"{_run_path(pipeline_id, run_id, version)}/status"
        return self._send(ApiRequest("GET", path, required=("status",)))

    def cancel_run(self, pipeline_id: str, run_id: str, version: int | None = None) -> R:
        """Cancel a run: 204 on a live run; 409 when it is already terminal.

        :meth:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook.cancel_run_if_active` treats the 409 as done.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id (a "dispatch" on the wire).
        :param version: ``None`` for the draft, a number for that locked version.
        :return: None.
        :raises ApiConflictError: when the run has already ended.
        """
        return self._send(ApiRequest("DELETE", _run_path(pipeline_id, run_id, version), answer="none"))

    # --- task executions of a run ------------------------------------------------------------
    def list_task_executions(self, pipeline_id: str, run_id: str) -> R:
        """The run's task executions: a bare JSON array (no page envelope), empty while the run is PENDING
        or PREPARING.

        Task executions belong to the run alone, so there is no ``version`` argument.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id (a "dispatch" on the wire).
        :return: a list of executions (``taskId``, ``nodeId``, ``name``, ``status``, ``errorDetail``, ...).
        """
        return self._send(ApiRequest("GET", f"{_run_path(pipeline_id, run_id, None)}/tasks", answer="array"))

    def get_task_execution(self, pipeline_id: str, run_id: str, task_id: int, node_id: int | None = None) -> R:
        """One task execution of a run.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id (a "dispatch" on the wire).
        :param task_id: the ``@task``'s number in the pipeline (``taskId`` of :meth:`list_task_executions`).
        :param node_id: which invocation of a task that fanned out (``nodeId``); needed only then, else the
            server answers 409 listing the candidates.
        :return: the execution (``status``, ...).
        """
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
        """Live logs, kept by the service about a minute after the task's pod ends.

        After that, :meth:`get_task_execution_durable_logs` has them.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id (a "dispatch" on the wire).
        :param task_id: the ``@task``'s number in the pipeline (``taskId`` of :meth:`list_task_executions`).
        :param tail_lines: only the last lines (default: all).
        :param verbosity: ``"user"`` (the server's default) or ``"all"``.
        :param node_id: which invocation of a task that fanned out (``nodeId``); needed only then, else the
            server answers 409 listing the candidates.
        :return: ``{logs, ...}``; up to 64 MiB.
        """
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
        """Stored logs of a task execution, available after its pod is gone.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id (a "dispatch" on the wire).
        :param task_id: the ``@task``'s number in the pipeline (``taskId`` of :meth:`list_task_executions`).
        :param stream: ``"stdout"`` or ``"stderr"`` (default; where Python tracebacks go).
        :param verbosity: ``"user"`` or ``"all"``.
        :param node_id: which invocation of a task that fanned out (``nodeId``); needed only then, else the
            server answers 409 listing the candidates.
        :return: ``{content, contentType, totalBytes, truncated, ...}``; up to 64 MiB.
        :raises DataRobotConfigError: for another ``stream``, before any call.
        """
        if stream not in ("stdout", "stderr"):
            raise DataRobotConfigError(f"Log stream must be 'stdout' or 'stderr', got {stream!r}.")
        path = f"{_task_execution_path(pipeline_id, run_id, task_id)}/logs/{stream}"
        request = ApiRequest("GET", path, required=("content",), max_bytes=MAX_TEXT_BYTES)
        return self._send(request.with_params(verbosity=verbosity, nodeId=node_id))

    def get_task_execution_result(self, pipeline_id: str, run_id: str, task_id: int, node_id: int | None = None) -> R:
        """Where to download a task's return value: 409 until the task is COMPLETED.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id (a "dispatch" on the wire).
        :param task_id: the ``@task``'s number in the pipeline (``taskId`` of :meth:`list_task_executions`).
        :param node_id: which invocation of a task that fanned out (``nodeId``); needed only then, else the
            server answers 409 listing the candidates.
        :return: ``{url, ...}``.
        :raises ApiConflictError: before the task completed, or when a fan-out needs ``node_id``.
        """
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
        """Schedule runs of a locked version inside DataRobot (independent of Airflow).

        The schedule snapshots the version, the input and the image when it is created.

        :param pipeline_id: the pipeline's id.
        :param version: the locked version to run (schedules exist for locked versions only).
        :param input_id: the input every scheduled run uses.
        :param image_id: the execution image to run in.
        :param image_version: that image's version number (images are versioned, see :meth:`update_image`).
        :param cron_expression: when to run, e.g. ``"0 6 * * *"``.
        :param timezone: an IANA zone for the cron expression (the server's default: UTC).
        :return: the schedule (``id``, ``status``, ...).
        """
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
        """A pipeline's schedules, one page at a time.

        :param pipeline_id: the pipeline's id.
        :param offset: index of the first item to return (default: the server's, 0).
        :param limit: items per page, 1-200 (default: the server's);
            :meth:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook.iterate` walks every page.
        :return: one page: ``{data, count, next, previous, totalCount}``.
        """
        return self._send(_listing(f"{pipeline_path(pipeline_id)}/schedules", offset, limit))

    def get_schedule(self, pipeline_id: str, schedule_id: str) -> R:
        """One schedule.

        :param pipeline_id: the pipeline's id.
        :param schedule_id: the schedule's id.
        :return: the schedule (``id``, ``status``, ``cron_expression``, ...).
        """
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
        """Change a schedule's timing.

        :param pipeline_id: the pipeline's id.
        :param schedule_id: the schedule's id.
        :param cron_expression: the new cron expression.
        :param timezone: the new IANA time zone.
        :return: the updated schedule.
        :raises DataRobotConfigError: with neither field, before any call.
        """
        body = {k: v for k, v in (("cron_expression", cron_expression), ("timezone", timezone)) if v is not None}
        if not body:
            raise DataRobotConfigError("update_schedule needs cron_expression or timezone.")
        path = f"{pipeline_path(pipeline_id)}/schedules/{_segment(schedule_id, 'schedule_id')}"
        return self._send(ApiRequest("PATCH", path, json=body, required=("id",)))

    def delete_schedule(self, pipeline_id: str, schedule_id: str) -> R:
        """Delete a schedule, and the job on the service that fires it.

        :param pipeline_id: the pipeline's id.
        :param schedule_id: the schedule's id.
        :return: None (the API answers 204).
        """
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
        """Build an execution image (a Python environment the pipeline's tasks run in).

        It is ``CREATING`` first and becomes usable when ``READY``.

        :param name: the image's name, unique per user.
        :param packages: pip requirements, e.g. ``["pandas==2.2"]``.
        :param conda: conda dependencies: a list, or ``{"channels": [...], "dependencies": [...]}``.
        :param python_version: ``"3.10"`` to ``"3.13"``; the server's default when omitted.
        :param gpu: request a GPU image (422 when the service has no GPU capacity).
        :param description: free text.
        :return: the image (``id``, ``status``, ...).
        :raises DataRobotConfigError: with neither ``packages`` nor ``conda``, before any call.
        """
        body = _image_body(name, packages, conda, python_version, gpu)
        if description is not None:
            body["description"] = description
        return self._send(ApiRequest("POST", "/pipelines/images", json=body, creates=True, required=("id",)))

    def list_images(self, *, offset: int | None = None, limit: int | None = None) -> R:
        """The caller's active execution images, newest first, one page at a time.

        :param offset: index of the first item to return (default: the server's, 0).
        :param limit: items per page, 1-200 (default: the server's);
            :meth:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook.iterate` walks every page.
        :return: one page: ``{data, count, next, previous, totalCount}``.
        """
        return self._send(_listing("/pipelines/images", offset, limit))

    def get_image(self, image_id: str) -> R:
        """One execution image with its status (CREATING, READY or ERROR).

        :param image_id: the execution image's id.
        :return: the image (``id``, ``status``, ...).
        """
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
        """A full replacement that becomes the image's next immutable version.

        Fields left out are not kept from the previous version: pass the whole environment again.

        :param image_id: the execution image's id.
        :param name: required by the API, which keeps the image's stored name regardless.
        :param packages: pip requirements, e.g. ``["pandas==2.2"]``.
        :param conda: conda dependencies: a list, or ``{"channels": [...], "dependencies": [...]}``.
        :param python_version: ``"3.10"`` to ``"3.13"``; the server's default when omitted.
        :param gpu: request a GPU image (422 when the service has no GPU capacity).
        :return: the image with its new version.
        :raises DataRobotConfigError: with neither ``packages`` nor ``conda``, before any call.
        """
        path = f"/pipelines/images/{_segment(image_id, 'image_id')}"
        body = _image_body(name, packages, conda, python_version, gpu)
        return self._send(ApiRequest("PATCH", path, json=body, required=("id",)))

    def delete_image(self, image_id: str) -> R:
        """Soft-delete the image's latest active version, and the image itself once no active version remains.

        :param image_id: the execution image's id.
        :return: None (the API answers 204).
        """
        return self._send(ApiRequest("DELETE", f"/pipelines/images/{_segment(image_id, 'image_id')}", answer="none"))

    def delete_image_version(self, image_id: str, version: int) -> R:
        """Soft-delete one version of an execution image.

        :param image_id: the execution image's id.
        :param version: the image version number.
        :return: None (the API answers 204).
        """
        path = f"/pipelines/images/{_segment(image_id, 'image_id')}/versions/{version_number(version)}"
        return self._send(ApiRequest("DELETE", path, answer="none"))

    def get_image_version_logs(self, image_id: str, version: int) -> R:
        """The build log of one image version, once it is READY or ERROR: why a build failed.

        :param image_id: the execution image's id.
        :param version: the image version number.
        :return: ``{logs, ...}``; up to 64 MiB.
        """
        path = f"/pipelines/images/{_segment(image_id, 'image_id')}/versions/{version_number(version)}/logs"
        return self._send(ApiRequest("GET", path, required=("logs",), max_bytes=MAX_TEXT_BYTES))

    # --- service -----------------------------------------------------------------------------
    def get_api_version(self) -> R:
        """The pipelines service's version.

        :return: ``{versionString, ...}``.
        """
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
