"""The emulator as one ASGI app: every endpoint of the pipelines API below ``/api/v2``, the admin API and the UI page.

Each resource's routes live in ``routes/``. Each scoped route is registered for the draft path
(``/pipelines/{pid}/…``) and the locked path (``/pipelines/{pid}/versions/{version}/…``), and every route
with and without a trailing slash, served directly (no 307 redirect: the Python SDK always adds the slash,
the CLI never does).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from airflow_provider_drpipelines.emulator import run_page
from airflow_provider_drpipelines.emulator.config import ConfigOverrides, EmulatorConfig
from airflow_provider_drpipelines.emulator.faults import FaultBook, RequestLog
from airflow_provider_drpipelines.emulator.gateway import Gateway
from airflow_provider_drpipelines.emulator.routes.admin import admin_router
from airflow_provider_drpipelines.emulator.routes.common import Routes
from airflow_provider_drpipelines.emulator.routes.images import add_image_routes
from airflow_provider_drpipelines.emulator.routes.inputs import add_input_routes
from airflow_provider_drpipelines.emulator.routes.pipelines import add_pipeline_routes
from airflow_provider_drpipelines.emulator.routes.runs import add_execution_routes, add_run_routes
from airflow_provider_drpipelines.emulator.routes.schedules import add_schedule_routes
from airflow_provider_drpipelines.emulator.routes.versions import add_version_routes
from airflow_provider_drpipelines.emulator.state import Store
from airflow_provider_drpipelines.emulator.wire import ApiError, JSONObject

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11 on

API_VERSION = {"major": 2, "minor": 37, "versionString": "2.37.0"}
#: In registration order: images first, so /pipelines/images wins over /pipelines/{pid}.
RESOURCE_ROUTES = (
    add_image_routes,
    add_pipeline_routes,
    add_version_routes,
    add_input_routes,
    add_run_routes,
    add_execution_routes,
    add_schedule_routes,
)


def _api_router(store: Store) -> APIRouter:
    """Everything under /api/v2."""
    router = APIRouter(prefix="/api/v2")
    route = Routes(router)

    @route("GET", "/version")
    async def api_version() -> JSONObject:
        return API_VERSION

    for add_routes in RESOURCE_ROUTES:
        add_routes(route, store)
    return router


def create_app(config: EmulatorConfig | None = None, **overrides: Unpack[ConfigOverrides]) -> Gateway:
    """The gateway (auth, faults, log, fast status poll) in front of FastAPI.

    The keyword arguments (``token=``, ``run_seconds=``, ``clock=``…) replace those fields of ``config``
    (default ``EmulatorConfig()``).
    """
    config = (config or EmulatorConfig()).with_overrides(**overrides)
    store = Store(config)
    faults, log = FaultBook(), RequestLog()
    api = FastAPI(title="DataRobot pipelines API emulator", redirect_slashes=False)

    @api.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    route = Routes(api.router)

    @route("GET", "/health")
    async def health() -> JSONObject:
        return {"status": "ok"}

    @route("GET", "/pipelines/{pid}/runs/{did}")
    async def show_run(pid: str, did: str) -> HTMLResponse:
        """The UI page the provider's extra link opens when the connection targets the emulator."""
        try:
            run = store.any_run(pid, did)
            return HTMLResponse(run_page.render(run, store.pipeline(pid).name, store.clock()))
        except ApiError as exc:
            return HTMLResponse(f"<!doctype html><h1>Not found</h1><p>{html.escape(exc.detail)}</p>", 404)

    api.include_router(_api_router(store))
    api.include_router(admin_router(store, faults, log))
    return Gateway(api, store, faults, log)
