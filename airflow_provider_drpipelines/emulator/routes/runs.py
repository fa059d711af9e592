"""Runs (dispatches) in both scopes, and their task executions, logs and results.

``GET …/dispatches/{did}/status`` is not here: the gateway's fast path answers it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Request, Response

from airflow_provider_drpipelines.emulator import views
from airflow_provider_drpipelines.emulator.routes.common import (
    Body,
    Limit,
    LockedVersion,
    Offset,
    Routes,
    no_content,
    page,
    query_int,
)
from airflow_provider_drpipelines.emulator.runs import Execution, Run
from airflow_provider_drpipelines.emulator.state import Store
from airflow_provider_drpipelines.emulator.wire import JSONObject, conflict, invalid, not_found
from airflow_provider_drpipelines.statuses import TaskExecutionStatus


class RunBody(Body):
    input_id: str
    image_id: str | None = None


def _execution(run: Run, task_id: int, node_id: int | None, now: float) -> Execution:
    """The execution of ``task_id`` (and ``node_id`` when the task fanned out) as of ``now``."""
    if all(node.task.id != task_id for node in run.pipeline.nodes):
        raise not_found("task not found")
    found = [e for e in run.executions(now) if e.node.task.id == task_id]
    if node_id is not None:
        found = [e for e in found if e.node.id == node_id]
    if not found:
        raise not_found(f"No execution of task {task_id} in run {run.id} yet")
    if len(found) > 1:
        candidates = ", ".join(str(e.node.id) for e in found)
        raise conflict(f"Task {task_id} ran {len(found)} times in run {run.id}; pass nodeId, one of {candidates}")
    return found[0]


def _log_lines(run: Run, execution: Execution, verbosity: str, stream: str | None) -> tuple[list[str], int]:
    """Log lines kept at ``verbosity`` (``user`` hides platform lines) and how many were filtered out."""
    if verbosity not in ("user", "all"):
        raise invalid(("query", "verbosity"), "verbosity must be 'user' or 'all'", verbosity)
    lines = [(user, text) for line_stream, user, text in run.log_lines(execution) if stream in (None, line_stream)]
    kept = [text for user, text in lines if user or verbosity == "all"]
    return kept, len(lines) - len(kept)


def add_run_routes(route: Routes, store: Store) -> None:
    now = store.clock

    @route.scoped("POST", "/dispatches", status=201)
    async def create_run(pid: str, version: LockedVersion, body: RunBody) -> JSONObject:
        return views.run(store.create_run(pid, version, body.input_id, body.image_id), now())

    @route.scoped("GET", "/dispatches")
    async def list_runs(
        pid: str, version: LockedVersion, request: Request, offset: Offset = 0, limit: Limit = 100
    ) -> JSONObject:
        moment = now()
        return page(request, store.list_runs(pid, version), offset, limit, lambda r: views.run(r, moment))

    @route.scoped("GET", "/dispatches/{did}")
    async def get_run(pid: str, version: LockedVersion, did: str) -> JSONObject:
        return views.run(store.run(pid, version, did), now())

    @route.scoped("DELETE", "/dispatches/{did}", status=204)
    async def cancel_run(pid: str, version: LockedVersion, did: str) -> Response:
        store.cancel_run(pid, version, did)
        return no_content()


def add_execution_routes(route: Routes, store: Store) -> None:
    """The run-task routes: no version segment, a run is found by its id in either scope."""
    now = store.clock

    @route("GET", "/pipelines/{pid}/dispatches/{did}/tasks")
    async def list_executions(pid: str, did: str) -> list[JSONObject]:
        return [views.execution(e) for e in store.any_run(pid, did).executions(now())]

    @route("GET", "/pipelines/{pid}/dispatches/{did}/tasks/{task_id}")
    async def get_execution(pid: str, did: str, task_id: int, request: Request) -> JSONObject:
        run = store.any_run(pid, did)
        return views.execution(_execution(run, task_id, query_int(request, "node_id"), now()))

    @route("GET", "/pipelines/{pid}/dispatches/{did}/tasks/{task_id}/logs")
    async def live_logs(pid: str, did: str, task_id: int, request: Request, verbosity: str = "user") -> JSONObject:
        run = store.any_run(pid, did)
        execution = _execution(run, task_id, query_int(request, "node_id"), now())
        lines, filtered = _log_lines(run, execution, verbosity, None)
        tail = query_int(request, "tail_lines")
        if tail is not None and tail >= 0:
            lines = lines[len(lines) - tail :] if tail else []
        return {"logs": "\n".join(lines), "filteredLineCount": filtered}

    @route("GET", "/pipelines/{pid}/dispatches/{did}/tasks/{task_id}/logs/{stream}")
    async def durable_logs(
        pid: str,
        did: str,
        task_id: int,
        stream: Literal["stdout", "stderr"],
        request: Request,
        verbosity: str = "user",
    ) -> JSONObject:
        run = store.any_run(pid, did)
        execution = _execution(run, task_id, query_int(request, "node_id"), now())
        lines, filtered = _log_lines(run, execution, verbosity, stream)
        content = "".join(line + "\n" for line in lines)
        return {
            "content": content,
            "contentType": "text/plain",
            "totalBytes": len(content.encode()),
            "truncated": False,
            "filteredLineCount": filtered,
        }

    @route("GET", "/pipelines/{pid}/dispatches/{did}/tasks/{task_id}/result")
    async def task_result(pid: str, did: str, task_id: int, request: Request) -> JSONObject:
        run = store.any_run(pid, did)
        execution = _execution(run, task_id, query_int(request, "node_id"), now())
        if execution.status != TaskExecutionStatus.COMPLETED:
            raise conflict(
                f"Task {task_id} (node {execution.node.id}) is {execution.status}; "
                "its result is available once COMPLETED"
            )
        url = f"{request.base_url}_emulator/results/{run.id}/{execution.node.id}/result.tobj"
        return views.result(run.result_value(execution.node), url)
