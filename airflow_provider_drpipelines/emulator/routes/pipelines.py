"""``/pipelines`` and ``/pipelines/{pid}``: upload, update, lock, clone, delete, list."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Request, Response
from pydantic.alias_generators import to_camel
from starlette.datastructures import UploadFile

from airflow_provider_drpipelines.emulator import views
from airflow_provider_drpipelines.emulator.routes.common import Body, Offset, Routes, no_content, page
from airflow_provider_drpipelines.emulator.state import Store
from airflow_provider_drpipelines.emulator.wire import ApiError, JSONObject, invalid


class CloneBody(Body):
    name: str | None = None


async def _upload(request: Request, required: bool) -> tuple[str | None, str, dict[str, str | None]]:
    """(file text or None, file name, text fields by snake_case name) of a multipart pipeline upload."""
    form = await request.form()
    upload = form.get("file")
    fields: dict[str, str | None] = {}
    for key in ("name", "description", "mode", "image_id"):
        value = form.get(key, form.get(to_camel(key)))
        fields[key] = value if isinstance(value, str) else None
    if not isinstance(upload, UploadFile):
        if required:
            raise invalid(("body", "file"), "Field required", None)
        return None, "", fields
    filename = upload.filename or "pipeline.py"
    try:
        text = (await upload.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"{filename} is not UTF-8 text") from None
    return text, filename, fields


def add_pipeline_routes(route: Routes, store: Store) -> None:
    now = store.clock

    @route("POST", "/pipelines", status=201)
    async def create_pipeline(request: Request) -> JSONObject:
        text, filename, fields = await _upload(request, required=True)
        assert text is not None
        return views.created(
            store.create_pipeline(
                text, filename, fields["name"], fields["description"], fields["mode"], fields["image_id"]
            ),
            now(),
        )

    @route("GET", "/pipelines")
    async def list_pipelines(
        request: Request,
        offset: Offset = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        mode: Literal["draft", "locked"] | None = None,
        search: str | None = None,
    ) -> JSONObject:
        moment = now()
        pipelines = store.list_pipelines(mode, search)
        return page(request, pipelines, offset, limit, lambda p: views.pipeline_item(p, moment))

    @route("GET", "/pipelines/{pid}")
    async def get_pipeline(pid: str) -> JSONObject:
        item = store.pipeline(pid)
        return views.pipeline(item, store.image(item.image_id) if item.image_id else None, now())

    @route("PATCH", "/pipelines/{pid}")
    async def update_pipeline(pid: str, request: Request) -> JSONObject:
        text, filename, fields = await _upload(request, required=False)
        if fields["mode"]:
            raise invalid(
                ("body", "mode"), "mode cannot be changed here; use PATCH /pipelines/{id}/mode", fields["mode"]
            )
        return views.created(
            store.update_pipeline(pid, text, filename, fields["name"], fields["description"], fields["image_id"]),
            now(),
        )

    @route("DELETE", "/pipelines/{pid}", status=204)
    async def delete_pipeline(pid: str) -> Response:
        store.delete_pipeline(pid)
        return no_content()

    @route("PATCH", "/pipelines/{pid}/mode")
    async def lock_pipeline(pid: str) -> JSONObject:
        return views.created(store.lock_pipeline(pid), now())

    @route("POST", "/pipelines/{pid}/clone", status=201)
    async def clone_pipeline(pid: str, body: CloneBody | None = None) -> JSONObject:
        return views.created(store.clone_pipeline(pid, body.name if body else None), now())
