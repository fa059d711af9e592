"""``/_emulator/…``: fault rules, the request log, reset, stats, the clock, schedules and the result objects.

Loopback clients only (the gateway answers 403 to anyone else), no token, never logged or faulted.
"""

from __future__ import annotations

import pickle
import re
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import Field

from airflow_provider_drpipelines.emulator import views
from airflow_provider_drpipelines.emulator.config import Clock
from airflow_provider_drpipelines.emulator.faults import FaultBook, FaultSpec, RequestLog, When
from airflow_provider_drpipelines.emulator.routes.common import Body, Routes, no_content
from airflow_provider_drpipelines.emulator.state import Store
from airflow_provider_drpipelines.emulator.wire import JSONObject, invalid, not_found, rfc3339


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


class AdvanceBody(Body):
    seconds: float = Field(ge=0, allow_inf_nan=False)


class ScheduleStatusBody(Body):
    status: Literal["ACTIVE", "PAUSED"]


def clock_json(clock: Clock) -> JSONObject:
    now = clock()
    frozen = clock.frozen_at is not None
    return {"now": rfc3339(now), "epochSeconds": now, "advancedSeconds": clock.offset, "frozen": frozen}


def add_fault_routes(route: Routes, faults: FaultBook) -> None:
    @route("POST", "/faults", status=201)
    async def add_fault(body: FaultBody) -> JSONObject:
        spec = FaultSpec(**body.model_dump())
        if not (spec.answers or spec.delay):
            raise invalid(("body",), "a fault rule needs status, drop or delay", body.model_dump())
        try:
            return faults.add(spec).as_json()
        except re.error as exc:
            raise invalid(("body", "path"), f"invalid regular expression: {exc}", body.path) from None

    @route("GET", "/faults")
    async def list_faults() -> JSONObject:
        return {"data": [rule.as_json() for rule in faults.list()]}

    @route("DELETE", "/faults", status=204)
    async def clear_faults() -> Response:
        faults.clear()
        return no_content()


def add_clock_routes(route: Routes, clock: Clock) -> None:
    @route("GET", "/clock")
    async def read_clock() -> JSONObject:
        return clock_json(clock)

    @route("POST", "/clock/advance")
    async def advance_clock(body: AdvanceBody) -> JSONObject:
        clock.advance(body.seconds)
        return clock_json(clock)


def add_schedule_admin_routes(route: Routes, store: Store) -> None:
    """What the public API cannot do to a schedule: fire it now, pause or resume it."""

    @route("POST", "/schedules/{sid}/fire", status=201)
    async def fire_schedule(sid: str) -> JSONObject:
        """Start one run now, as the schedule would (even a paused one, as ``kubectl create job --from``)."""
        return views.run(store.fire_schedule(sid), store.clock())

    @route("POST", "/schedules/{sid}/status")
    async def set_schedule_status(sid: str, body: ScheduleStatusBody) -> JSONObject:
        return views.schedule(store.set_schedule_status(sid, body.status))


def admin_router(store: Store, faults: FaultBook, log: RequestLog) -> APIRouter:
    router = APIRouter(prefix="/_emulator")
    route = Routes(router)
    add_fault_routes(route, faults)
    add_clock_routes(route, store.clock)
    add_schedule_admin_routes(route, store)

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
        """Forget state, rules and the log; the clock keeps its time (it never runs backwards)."""
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
