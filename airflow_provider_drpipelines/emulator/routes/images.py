"""``/pipelines/images…``: execution images and their versions."""

from __future__ import annotations

from typing import Literal

from fastapi import Request, Response
from pydantic import AliasChoices, Field

from airflow_provider_drpipelines.emulator import views
from airflow_provider_drpipelines.emulator.routes.common import Body, Limit, Offset, Routes, no_content, page
from airflow_provider_drpipelines.emulator.state import ImageVersion, Store
from airflow_provider_drpipelines.emulator.wire import JSONObject, conflict
from airflow_provider_drpipelines.statuses import ImageStatus


class CondaSpec(Body):
    channels: list[str] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)


class ImageBody(Body):
    """Both clients' spellings: the CLI's ``pip``/``baseImage``, the SDK's ``packages``/``python_base_image``."""

    name: str
    description: str | None = None
    packages: list[str] = Field(default=[], validation_alias=AliasChoices("packages", "pip"))
    conda: list[str] | CondaSpec | None = None
    python_version: Literal["3.10", "3.11", "3.12", "3.13"] | None = None
    python_base_image: str | None = Field(
        default=None,
        validation_alias=AliasChoices("python_base_image", "pythonBaseImage", "baseImage", "base_image"),
    )
    gpu: bool = Field(default=False, validation_alias=AliasChoices("gpu", "nvidia"))

    def definition(self) -> JSONObject:
        base, python = self.python_base_image, self.python_version
        if base in ("3.10", "3.11", "3.12", "3.13"):  # a bare version is folded into pythonVersion
            base, python = None, python or base
        conda = self.conda.model_dump() if isinstance(self.conda, CondaSpec) else self.conda
        return {
            "name": self.name,
            "packages": self.packages,
            "conda": conda,
            "pythonVersion": python,
            "pythonBaseImage": base,
            "gpu": self.gpu,
        }


def build_log(iid: str, item: ImageVersion) -> str:
    """The docker build log of a finished build: pip's error at the end of a failed one."""
    packages = " ".join(item.definition["packages"]) or "(none)"
    logs = (
        f"Step 1/3 : FROM python:{item.definition['pythonVersion'] or '3.12'}-slim\n"
        f"Step 2/3 : RUN pip install {packages}\n"
    )
    if item.build_error:
        return logs + f"{item.build_error}\nThe command '/bin/sh -c pip install' returned a non-zero code: 1\n"
    return logs + f"Step 3/3 : LABEL emulator=true\nSuccessfully built image {iid} version {item.number}\n"


def add_image_routes(route: Routes, store: Store) -> None:
    now = store.clock

    @route("POST", "/pipelines/images", status=201)
    async def create_image(body: ImageBody) -> JSONObject:
        return views.image(store.create_image(body.name, body.description, body.definition()), now())

    @route("GET", "/pipelines/images")
    async def list_images(request: Request, offset: Offset = 0, limit: Limit = 100) -> JSONObject:
        moment = now()
        return page(request, store.list_images(), offset, limit, lambda i: views.image_summary(i, moment))

    @route("GET", "/pipelines/images/{iid}")
    async def get_image(iid: str) -> JSONObject:
        return views.image(store.image(iid), now())

    @route("PATCH", "/pipelines/images/{iid}")
    async def replace_image(iid: str, body: ImageBody) -> JSONObject:
        return views.image(store.replace_image(iid, body.definition()), now())

    @route("DELETE", "/pipelines/images/{iid}", status=204)
    async def delete_image(iid: str) -> Response:
        store.delete_image(iid, None)
        return no_content()

    @route("DELETE", "/pipelines/images/{iid}/versions/{number}", status=204)
    async def delete_image_version(iid: str, number: int) -> Response:
        store.delete_image(iid, number)
        return no_content()

    @route("GET", "/pipelines/images/{iid}/versions/{number}/logs")
    async def image_logs(iid: str, number: int) -> JSONObject:
        item = store.image_version(iid, number)
        if item.status(now()) not in (ImageStatus.READY, ImageStatus.ERROR):
            raise conflict(f"Version {number} of image {iid} is still building; logs are available once READY")
        return {"logs": build_log(iid, item)}
