"""FastAPI routes of the emulator: every endpoint of pipelines-api.md §4, the admin API and the UI page.

Each scoped route is registered for the draft path (``/pipelines/{pid}/…``) and the locked path
(``/pipelines/{pid}/versions/{version}/…``), and every route with and without a trailing slash,
served directly (no 307 redirect: the Python SDK always adds the slash, the CLI never does).
"""

from __future__ import annotations

import html
import pickle
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import AliasChoices, AliasGenerator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.datastructures import UploadFile

from airflow_provider_drpipelines.emulator import run_page, views
from airflow_provider_drpipelines.emulator.faults import FaultBook, RequestLog, When
from airflow_provider_drpipelines.emulator.gateway import Gateway
from airflow_provider_drpipelines.emulator.runs import Execution, Run
from airflow_provider_drpipelines.emulator.state import Store
from airflow_provider_drpipelines.emulator.wire import (
    ApiError,
    JSONObject,
    conflict,
    invalid,
    not_found,
    version_number,
)
from airflow_provider_drpipelines.statuses import ImageStatus, TaskExecutionStatus

API_VERSION = {"major": 2, "minor": 37, "versionString": "2.37.0"}
T = TypeVar("T")
Handler = Callable[..., Any]


class Body(BaseModel):
    """Request bodies accept the camelCase alias and the snake_case field name of every key (§1.6)."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_camel),
        validate_by_name=True,
        validate_by_alias=True,
    )


class InputBody(Body):
    payload: dict[str, Any]


class RunBody(Body):
    input_id: str
    image_id: str | None = None


class CloneBody(Body):
    name: str | None = None


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


class CondaSpec(Body):
    channels: list[str] = []
    dependencies: list[str] = []


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


class FaultBody(Body):
    method: str = "*"
    path: str = ""
    status: int | None = Field(default=None, ge=100, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    delay: float = Field(default=0.0, ge=0)
    drop: bool = False
    times: int | None = Field(default=1, ge=0)
    when: When = "before"
    html: bool = False
    commit: bool = False


Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=1000)]


def page(
    request: Request, items: Sequence[T], offset: int, limit: int, render: Callable[[T], JSONObject]
) -> JSONObject:
    """The DataPage envelope (§1.5) with absolute ``next``/``previous`` URLs (the SDK refuses relative ones)."""
    chunk = items[offset : offset + limit]

    def link(at: int) -> str:
        return str(request.url.include_query_params(offset=at, limit=limit))

    return {
        "data": [render(item) for item in chunk],
        "totalCount": len(items),
        "count": len(chunk),
        "next": link(offset + limit) if offset + limit < len(items) else None,
        "previous": link(max(offset - limit, 0)) if offset > 0 else None,
    }


async def scope_version(request: Request) -> int | None:
    """The locked-scope version number from the path, None on the draft path."""
    return version_number(request.path_params.get("version"))


def query_int(request: Request, name: str) -> int | None:
    """An int query parameter under its snake_case or camelCase name."""
    raw = request.query_params.get(name) or request.query_params.get(to_camel(name))
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise invalid(("query", name), "Input should be a valid integer", raw) from None


Version = Annotated[int | None, Depends(scope_version)]


def no_content() -> Response:
    """204 with an empty body: every DELETE, cancel included (§1.4)."""
    return Response(status_code=204)


class Routes:
    """Route registration with both slash forms and both scopes, written once."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router

    def __call__(self, method: str, *paths: str, status: int = 200) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for path in paths:
                for form in (path, path + "/"):
                    self.router.add_api_route(
                        form, handler, methods=[method], status_code=status, include_in_schema=form == path
                    )
            return handler

        return register

    def scoped(self, method: str, sub: str, status: int = 200) -> Callable[[Handler], Handler]:
        return self(method, f"/pipelines/{{pid}}{sub}", f"/pipelines/{{pid}}/versions/{{version}}{sub}", status=status)


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


def _api_routes(store: Store) -> APIRouter:
    """Everything under /api/v2. Images come first: /pipelines/images must win over /pipelines/{pid} (§1.1)."""
    router = APIRouter(prefix="/api/v2")
    route = Routes(router)

    @route("GET", "/version")
    async def api_version() -> JSONObject:
        return API_VERSION

    for add_routes in (_image_routes, _pipeline_routes, _input_and_run_routes, _execution_routes, _schedule_routes):
        add_routes(route, store)
    return router


def _image_routes(route: Routes, store: Store) -> None:
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
        packages = " ".join(item.definition["packages"]) or "(none)"
        logs = (
            f"Step 1/3 : FROM python:{item.definition['pythonVersion'] or '3.12'}-slim\n"
            f"Step 2/3 : RUN pip install {packages}\n"
        )
        if item.build_error:
            return {
                "logs": logs + f"{item.build_error}\nThe command '/bin/sh -c pip install' returned a non-zero code: 1\n"
            }
        return {"logs": logs + f"Step 3/3 : LABEL emulator=true\nSuccessfully built image {iid} version {number}\n"}


def _pipeline_routes(route: Routes, store: Store) -> None:
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

    @route("GET", "/pipelines/{pid}/versions")
    async def list_versions(pid: str, request: Request, offset: Offset = 0, limit: Limit = 100) -> JSONObject:
        moment = now()
        versions = list(reversed(store.pipeline(pid).versions))
        return page(request, versions, offset, limit, lambda v: views.version(v, moment))

    @route("GET", "/pipelines/{pid}/versions/{number}")
    async def get_version(pid: str, number: int) -> JSONObject:
        return views.version(store.version(store.pipeline(pid), number), now())

    @route.scoped("GET", "/graph")
    async def get_graph(pid: str, version: Version) -> JSONObject:
        return views.graph(store.scope(pid, version))

    @route.scoped("GET", "/source")
    async def get_source(pid: str, version: Version) -> JSONObject:
        return {"source": store.scope(pid, version).version.source}

    @route.scoped("GET", "/tasks/{task_id}")
    async def get_task(pid: str, task_id: int, version: Version) -> JSONObject:
        scope = store.scope(pid, version)
        task = next((t for t in scope.version.parsed.tasks if t.id == task_id), None)
        if task is None:
            raise not_found("task not found")
        inputs = store.list_inputs(pid, version) if version is not None else []
        return views.task(scope, task, inputs[0].payload if inputs else None)


def _input_and_run_routes(route: Routes, store: Store) -> None:
    now = store.clock

    @route.scoped("POST", "/inputs", status=201)
    async def create_input(pid: str, version: Version, body: InputBody) -> JSONObject:
        return views.input_(store.create_input(pid, version, body.payload))

    @route.scoped("GET", "/inputs")
    async def list_inputs(
        pid: str, version: Version, request: Request, offset: Offset = 0, limit: Limit = 100
    ) -> JSONObject:
        return page(request, store.list_inputs(pid, version), offset, limit, views.input_)

    @route.scoped("GET", "/inputs/{iid}")
    async def get_input(pid: str, version: Version, iid: str) -> JSONObject:
        return views.input_(store.input(pid, version, iid))

    @route.scoped("PATCH", "/inputs/{iid}")
    async def update_input(pid: str, version: Version, iid: str, body: InputBody) -> JSONObject:
        return views.input_(store.update_input(pid, version, iid, body.payload))

    @route.scoped("DELETE", "/inputs/{iid}", status=204)
    async def delete_input(pid: str, version: Version, iid: str) -> Response:
        store.delete_input(pid, version, iid)
        return no_content()

    @route.scoped("POST", "/dispatches", status=201)
    async def create_run(pid: str, version: Version, body: RunBody) -> JSONObject:
        return views.run(store.create_run(pid, version, body.input_id, body.image_id), now())

    @route.scoped("GET", "/dispatches")
    async def list_runs(
        pid: str, version: Version, request: Request, offset: Offset = 0, limit: Limit = 100
    ) -> JSONObject:
        moment = now()
        return page(request, store.list_runs(pid, version), offset, limit, lambda r: views.run(r, moment))

    @route.scoped("GET", "/dispatches/{did}")
    async def get_run(pid: str, version: Version, did: str) -> JSONObject:
        return views.run(store.run(pid, version, did), now())

    # GET …/dispatches/{did}/status is answered by the gateway's fast path.

    @route.scoped("DELETE", "/dispatches/{did}", status=204)
    async def cancel_run(pid: str, version: Version, did: str) -> Response:
        store.cancel_run(pid, version, did)
        return no_content()


def _execution_routes(route: Routes, store: Store) -> None:
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


def _schedule_routes(route: Routes, store: Store) -> None:
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


def _admin_routes(store: Store, faults: FaultBook, log: RequestLog) -> APIRouter:
    """``/_emulator/…``: loopback only (checked by the gateway), no token."""
    router = APIRouter(prefix="/_emulator")
    route = Routes(router)

    @route("POST", "/faults", status=201)
    async def add_fault(body: FaultBody) -> JSONObject:
        if not (body.drop or body.status is not None or body.delay):
            raise invalid(("body",), "a fault rule needs status, drop or delay", body.model_dump())
        try:
            rule = faults.add(
                body.method,
                body.path,
                body.status,
                body.retry_after,
                body.delay,
                body.drop,
                body.times,
                body.when,
                body.html,
                body.commit,
            )
        except re.error as exc:
            raise invalid(("body", "path"), f"invalid regular expression: {exc}", body.path) from None
        return rule.as_json()

    @route("GET", "/faults")
    async def list_faults() -> JSONObject:
        return {"data": [rule.as_json() for rule in faults.list()]}

    @route("DELETE", "/faults", status=204)
    async def clear_faults() -> Response:
        faults.clear()
        return no_content()

    @route("GET", "/requests")
    async def list_requests(path: str | None = None, method: str | None = None) -> JSONObject:
        try:
            entries = log.query(path, method)
        except re.error as exc:
            raise invalid(("query", "path"), f"invalid regular expression: {exc}", path) from None
        return {"data": entries, "totalCount": len(entries)}

    @route("DELETE", "/requests", status=204)
    async def clear_requests() -> Response:
        log.clear()
        return no_content()

    @route("POST", "/reset", status=204)
    async def reset() -> Response:
        store.reset()
        faults.clear()
        log.clear()
        return no_content()

    @route("GET", "/stats")
    async def stats() -> JSONObject:
        return {**store.stats(), "requests": log.served}

    @route("GET", "/results/{did}/{node_id}/result.tobj")
    async def result_object(did: str, node_id: int) -> Response:
        """The "presigned URL" of a task result: the JSON preview, pickled (cloudpickle reads it)."""
        run = store.runs.get(did)
        if run is None or not 0 <= node_id < len(run.pipeline.nodes):
            raise not_found(f"No result object for run {did} node {node_id}")
        value = run.result_value(run.pipeline.nodes[node_id])
        return Response(pickle.dumps(value), media_type="application/octet-stream")

    return router


def create_app(
    token: str = "emulator-token", run_seconds: float = 2.0, image_seconds: float = 1.0, version_seconds: float = 0.5
) -> Gateway:
    """The emulator as one ASGI app: the gateway (auth, faults, log, fast status poll) in front of FastAPI."""
    store = Store(run_seconds, image_seconds, version_seconds=version_seconds)
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

    api.include_router(_api_routes(store))
    api.include_router(_admin_routes(store, faults, log))
    return Gateway(api, store, token, faults, log)
