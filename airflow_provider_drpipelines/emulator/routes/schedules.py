"""Schedules of locked pipeline versions: stored and listed, never fired."""

from __future__ import annotations

from fastapi import Request, Response
from pydantic import Field

from airflow_provider_drpipelines.emulator import views
from airflow_provider_drpipelines.emulator.routes.common import Body, Limit, Offset, Routes, no_content, page
from airflow_provider_drpipelines.emulator.state import Store
from airflow_provider_drpipelines.emulator.wire import JSONObject


class ScheduleBody(Body):
    cron_expression: str
    pipeline_version_id: int = Field(gt=0)
    pipeline_input_id: str
    image_id: str | None = None
    image_version: int | None = Field(default=None, gt=0)
    timezone: str = "UTC"


class SchedulePatch(Body):
    cron_expression: str | None = None
    timezone: str | None = None


def add_schedule_routes(route: Routes, store: Store) -> None:
    @route("POST", "/pipelines/{pid}/schedules", status=201)
    async def create_schedule(pid: str, body: ScheduleBody) -> JSONObject:
        return views.schedule(
            store.create_schedule(
                pid,
                body.pipeline_version_id,
                body.pipeline_input_id,
                body.cron_expression,
                body.timezone,
                body.image_id,
                body.image_version,
            )
        )

    @route("GET", "/pipelines/{pid}/schedules")
    async def list_schedules(pid: str, request: Request, offset: Offset = 0, limit: Limit = 100) -> JSONObject:
        return page(request, store.list_schedules(pid), offset, limit, views.schedule)

    @route("GET", "/pipelines/{pid}/schedules/{sid}")
    async def get_schedule(pid: str, sid: str) -> JSONObject:
        return views.schedule(store.schedule(pid, sid))

    @route("PATCH", "/pipelines/{pid}/schedules/{sid}")
    async def update_schedule(pid: str, sid: str, body: SchedulePatch) -> JSONObject:
        return views.schedule(store.update_schedule(pid, sid, body.cron_expression, body.timezone))

    @route("DELETE", "/pipelines/{pid}/schedules/{sid}", status=204)
    async def delete_schedule(pid: str, sid: str) -> Response:
        store.delete_schedule(pid, sid)
        return no_content()
