"""A pipeline's versions and what each scope shows of one: graph, source, tasks."""

from __future__ import annotations

from fastapi import Request

from airflow_provider_drpipelines.emulator import views
from airflow_provider_drpipelines.emulator.routes.common import Limit, LockedVersion, Offset, Routes, page
from airflow_provider_drpipelines.emulator.state import Store
from airflow_provider_drpipelines.emulator.wire import JSONObject, not_found


def add_version_routes(route: Routes, store: Store) -> None:
    now = store.clock

    @route("GET", "/pipelines/{pid}/versions")
    async def list_versions(pid: str, request: Request, offset: Offset = 0, limit: Limit = 100) -> JSONObject:
        moment = now()
        versions = list(reversed(store.pipeline(pid).versions))
        return page(request, versions, offset, limit, lambda v: views.version(v, moment))

    @route("GET", "/pipelines/{pid}/versions/{number}")
    async def get_version(pid: str, number: int) -> JSONObject:
        return views.version(store.version(store.pipeline(pid), number), now())

    @route.scoped("GET", "/graph")
    async def get_graph(pid: str, version: LockedVersion) -> JSONObject:
        return views.graph(store.scope(pid, version))

    @route.scoped("GET", "/source")
    async def get_source(pid: str, version: LockedVersion) -> JSONObject:
        return {"source": store.scope(pid, version).version.source}

    @route.scoped("GET", "/tasks/{task_id}")
    async def get_task(pid: str, task_id: int, version: LockedVersion) -> JSONObject:
        scope = store.scope(pid, version)
        task = next((t for t in scope.version.parsed.tasks if t.id == task_id), None)
        if task is None:
            raise not_found("task not found")
        inputs = store.list_inputs(pid, version) if version is not None else []
        return views.task(scope, task, inputs[0].payload if inputs else None)
