"""The pipelines API's runs ("dispatches" on the wire) and the task executions of a run."""

from __future__ import annotations

from typing import Literal, TypeVar

from airflow_provider_drpipelines.client.paths import (
    Endpoints,
    listing,
    require_id,
    run_path,
    scope_path,
    task_execution_path,
)
from airflow_provider_drpipelines.client.wire import MAX_TEXT_BYTES, ApiRequest
from airflow_provider_drpipelines.exceptions import DataRobotConfigError

R = TypeVar("R")


class RunEndpoints(Endpoints[R]):
    """Runs, their status and cancellation, and what each task of a run did (logs, results)."""

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
            :meth:`~airflow_provider_drpipelines.hooks.listings.PipelinesListings.iterate` walks every page.
        :return: one page: ``{data, count, next, previous, totalCount}``.
        """
        return self._send(listing(f"{scope_path(pipeline_id, version)}/dispatches", offset, limit))

    def get_run(self, pipeline_id: str, run_id: str, version: int | None = None) -> R:
        """One run in full (status, input, timestamps, ``errorDetail``).

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id (a "dispatch" on the wire).
        :param version: ``None`` for the draft, a number for that locked version.
        :return: the run (``id``, ``status``, ``inputId``, ``createdAt``, ...).
        """
        return self._send(ApiRequest("GET", run_path(pipeline_id, run_id, version), required=("id", "status")))

    def get_run_status(self, pipeline_id: str, run_id: str, version: int | None = None) -> R:
        """The lightweight poll: ``{id, status, covalentDispatchId}``.

        Cheaper than :meth:`get_run`, so the trigger and the worker's wait poll only this.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id (a "dispatch" on the wire).
        :param version: ``None`` for the draft, a number for that locked version.
        :return: ``{id, status, covalentDispatchId}``; see :class:`~airflow_provider_drpipelines.statuses.RunStatus`.
        """
        path = f"{run_path(pipeline_id, run_id, version)}/status"
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
        return self._send(ApiRequest("DELETE", run_path(pipeline_id, run_id, version), answer="none"))

    # --- task executions of a run ------------------------------------------------------------
    def list_task_executions(self, pipeline_id: str, run_id: str) -> R:
        """The run's task executions: a bare JSON array (no page envelope), empty while the run is PENDING
        or PREPARING.

        Task executions belong to the run alone, so there is no ``version`` argument.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id (a "dispatch" on the wire).
        :return: a list of executions (``taskId``, ``nodeId``, ``name``, ``status``, ``errorDetail``, ...).
        """
        return self._send(ApiRequest("GET", f"{run_path(pipeline_id, run_id, None)}/tasks", answer="array"))

    def get_task_execution(self, pipeline_id: str, run_id: str, task_id: int, node_id: int | None = None) -> R:
        """One task execution of a run.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id (a "dispatch" on the wire).
        :param task_id: the ``@task``'s number in the pipeline (``taskId`` of :meth:`list_task_executions`).
        :param node_id: which invocation of a task that fanned out (``nodeId``); needed only then, else the
            server answers 409 listing the candidates.
        :return: the execution (``status``, ...).
        """
        path = task_execution_path(pipeline_id, run_id, task_id)
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
        path = f"{task_execution_path(pipeline_id, run_id, task_id)}/logs"
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
        path = f"{task_execution_path(pipeline_id, run_id, task_id)}/logs/{stream}"
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
        path = f"{task_execution_path(pipeline_id, run_id, task_id)}/result"
        return self._send(ApiRequest("GET", path, required=("url",)).with_params(nodeId=node_id))
