"""The pipelines API's pipelines, their versions and their inputs."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from airflow_provider_drpipelines.client.paths import (
    MULTIPART_TIMEOUT_SECONDS,
    Endpoints,
    SourceFile,
    form_fields,
    json_object_payload,
    listing,
    path_segment,
    pipeline_path,
    positive_int,
    scope_path,
    upload_file,
)
from airflow_provider_drpipelines.client.wire import MAX_TEXT_BYTES, ApiRequest
from airflow_provider_drpipelines.exceptions import DataRobotConfigError

R = TypeVar("R")


class PipelineEndpoints(Endpoints[R]):
    """Pipelines (upload, update, lock, clone, source, graph), their versions, and run inputs."""

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
        form = form_fields(name=name, description=description, mode=mode, image_id=image_id)
        return self._send(
            ApiRequest(
                "POST",
                "/pipelines",
                form=form,
                file=upload_file(source),
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
            :meth:`~airflow_provider_drpipelines.hooks.listings.PipelinesListings.iterate` walks every page.
        :return: one page: ``{data, count, next, previous, totalCount}``.
        """
        return self._send(listing("/pipelines", offset, limit, mode=mode, search=search))

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
        form = form_fields(name=name, description=description, image_id=image_id)
        upload = None if source is None else upload_file(source)
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
        path = f"{scope_path(pipeline_id, version)}/tasks/{positive_int(task_id, 'task_id')}"
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
            :meth:`~airflow_provider_drpipelines.hooks.listings.PipelinesListings.iterate` walks every page.
        :return: one page: ``{data, count, next, previous, totalCount}``.
        """
        return self._send(listing(f"{pipeline_path(pipeline_id)}/versions", offset, limit))

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
            :meth:`~airflow_provider_drpipelines.hooks.listings.PipelinesListings.iterate` walks every page.
        :return: one page: ``{data, count, next, previous, totalCount}``.
        """
        return self._send(listing(f"{scope_path(pipeline_id, version)}/inputs", offset, limit))

    def get_input(self, pipeline_id: str, input_id: str, version: int | None = None) -> R:
        """One input with its payload.

        :param pipeline_id: the pipeline's id.
        :param input_id: the input's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :return: the input (``id``, ``payload``, ``state``, ...).
        """
        path = f"{scope_path(pipeline_id, version)}/inputs/{path_segment(input_id, 'input_id')}"
        return self._send(ApiRequest("GET", path, required=("id", "payload")))

    def update_input(self, pipeline_id: str, input_id: str, payload: dict[str, Any]) -> R:
        """Replace a draft input's payload. Draft inputs only: locked inputs are immutable (409).

        :param pipeline_id: the pipeline's id.
        :param input_id: the draft input's id.
        :param payload: the new payload, a JSON object.
        :return: the updated input.
        :raises DataRobotConfigError: when ``payload`` is not a JSON-serialisable dict, before any call.
        """
        path = f"{scope_path(pipeline_id, None)}/inputs/{path_segment(input_id, 'input_id')}"
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
        path = f"{scope_path(pipeline_id, version)}/inputs/{path_segment(input_id, 'input_id')}"
        return self._send(ApiRequest("DELETE", path, answer="none"))
