"""Input sets, in both scopes."""

from __future__ import annotations

from typing import Any

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
)
from airflow_provider_drpipelines.emulator.state import Store
from airflow_provider_drpipelines.emulator.wire import JSONObject


class InputBody(Body):
    payload: dict[str, Any]


def add_input_routes(route: Routes, store: Store) -> None:
    @route.scoped("POST", "/inputs", status=201)
    async def create_input(pid: str, version: LockedVersion, body: InputBody) -> JSONObject:
        return views.input_(store.create_input(pid, version, body.payload))

    @route.scoped("GET", "/inputs")
    async def list_inputs(
        pid: str, version: LockedVersion, request: Request, offset: Offset = 0, limit: Limit = 100
    ) -> JSONObject:
        return page(request, store.list_inputs(pid, version), offset, limit, views.input_)

    @route.scoped("GET", "/inputs/{iid}")
    async def get_input(pid: str, version: LockedVersion, iid: str) -> JSONObject:
        return views.input_(store.input(pid, version, iid))

    @route.scoped("PATCH", "/inputs/{iid}")
    async def update_input(pid: str, version: LockedVersion, iid: str, body: InputBody) -> JSONObject:
        return views.input_(store.update_input(pid, version, iid, body.payload))

    @route.scoped("DELETE", "/inputs/{iid}", status=204)
    async def delete_input(pid: str, version: LockedVersion, iid: str) -> Response:
        store.delete_input(pid, version, iid)
        return no_content()
