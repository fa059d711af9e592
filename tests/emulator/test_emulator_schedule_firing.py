"""Schedules fire on their cron as the emulator's clock moves, and on demand through the admin API."""

from __future__ import annotations

import asyncio
import urllib.error
from typing import Any

import httpx
import pytest

from airflow_provider_drpipelines.emulator import create_app
from airflow_provider_drpipelines.emulator.wire import rfc3339

from .client import Api

MINUTE = 60.0
DAY = 86_400.0


def align(api: Api, period: float) -> float:
    """Move the (module-wide, frozen) clock to the next multiple of ``period`` seconds; returns that instant."""
    now = float(api.emu.clock()["epochSeconds"])
    api.emu.advance(-now % period)
    return now + (-now % period)


def at(moment: float) -> str:
    return rfc3339(moment)


def scheduled(api: Api, cron: str = "* * * * *", **fields: Any) -> tuple[str, str, str]:
    """A locked pipeline with a schedule on version 1: (pipeline id, schedule id, the schedule's input id)."""
    pid = api.locked()
    iid = api.input(pid, {"n": 1}, version=1)
    body = {"cron_expression": cron, "pipeline_version_id": 1, "pipeline_input_id": iid, **fields}
    sid = api.ok("POST", f"/pipelines/{pid}/schedules", 201, json=body)["id"]
    return pid, sid, iid


def runs(api: Api, pid: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.ok("GET", f"/pipelines/{pid}/versions/1/dispatches")["data"]
    return found


def test_a_schedule_fires_on_its_cron_as_the_clock_moves(api: Api) -> None:
    start = align(api, MINUTE)
    pid, _, iid = scheduled(api)
    assert runs(api, pid) == []
    api.emu.advance(MINUTE - 1)
    assert runs(api, pid) == []  # the first tick is a minute after creation
    api.emu.advance(1)
    first = runs(api, pid)
    assert len(first) == 1
    run = first[0]
    assert (run["triggeredBy"], run["versionId"], run["inputId"]) == ("schedule", 1, iid)
    assert run["createdAt"] == at(start + MINUTE)  # created at its tick
    assert len(runs(api, pid)) == 1  # seen again, not fired again
    api.emu.advance(MINUTE)
    assert [r["createdAt"] for r in runs(api, pid)] == [at(start + 2 * MINUTE), at(start + MINUTE)]


def test_missed_ticks_start_one_run_at_the_latest_as_a_cronjob_does(api: Api) -> None:
    start = align(api, 5 * MINUTE)
    pid, _, _ = scheduled(api, "*/5 * * * *")
    api.emu.advance(23 * MINUTE)  # four ticks passed in one step
    assert [r["createdAt"] for r in runs(api, pid)] == [at(start + 20 * MINUTE)]
    api.emu.advance(2 * MINUTE)
    assert len(runs(api, pid)) == 2  # the fifth tick


def test_the_cron_is_read_in_the_schedules_time_zone(api: Api) -> None:
    start = align(api, DAY)  # midnight UTC, in winter (the module's clock starts on 2026-01-01)
    pid, _, _ = scheduled(api, "0 1 * * *", timezone="Europe/Paris")  # 01:00 in Paris is 00:00 UTC in winter
    api.emu.advance(DAY - MINUTE)
    assert runs(api, pid) == []
    api.emu.advance(MINUTE)
    assert [r["createdAt"] for r in runs(api, pid)] == [at(start + DAY)]


def test_paused_schedules_do_not_fire_and_resume_from_now(api: Api) -> None:
    pid, sid, _ = scheduled(api)
    paused = api.emu.set_schedule_status(sid, "PAUSED")
    assert paused["status"] == "PAUSED"
    assert api.ok("GET", f"/pipelines/{pid}/schedules/{sid}")["status"] == "PAUSED"
    api.emu.advance(10 * MINUTE)
    assert runs(api, pid) == []
    assert api.emu.set_schedule_status(sid, "ACTIVE")["status"] == "ACTIVE"
    assert runs(api, pid) == []  # the ticks missed while paused are skipped
    api.emu.advance(MINUTE)
    assert len(runs(api, pid)) == 1


def test_deleted_schedules_do_not_fire(api: Api) -> None:
    pid, sid, _ = scheduled(api)
    assert api("DELETE", f"/pipelines/{pid}/schedules/{sid}").status_code == 204
    api.emu.advance(10 * MINUTE)
    assert runs(api, pid) == []
    with pytest.raises(urllib.error.HTTPError, match="404"):
        api.emu.fire_schedule(sid)


def test_a_changed_cron_fires_on_its_new_ticks(api: Api) -> None:
    start = align(api, 2 * MINUTE)
    pid, sid, _ = scheduled(api, "0 0 1 1 *")
    api.ok("PATCH", f"/pipelines/{pid}/schedules/{sid}", json={"cron_expression": "*/2 * * * *"})
    api.emu.advance(2 * MINUTE)
    assert [r["createdAt"] for r in runs(api, pid)] == [at(start + 2 * MINUTE)]


def test_a_schedule_whose_input_is_gone_skips_its_tick_without_breaking_requests(api: Api) -> None:
    pid, _, iid = scheduled(api)
    assert api("DELETE", f"/pipelines/{pid}/versions/1/inputs/{iid}").status_code == 204
    api.emu.advance(MINUTE)
    assert runs(api, pid) == []
    assert api.ok("GET", "/version")["major"] == 2


def test_the_admin_endpoint_fires_one_schedule_now(api: Api) -> None:
    now = align(api, 1.0)
    pid, sid, iid = scheduled(api, "0 0 1 1 *")  # next tick months away
    api.emu.set_schedule_status(sid, "PAUSED")  # a manual run works on a paused schedule too
    fired = api.emu.fire_schedule(sid)
    shown = (fired["triggeredBy"], fired["versionId"], fired["inputId"], fired["status"])
    assert shown == ("schedule", 1, iid, "PENDING")
    assert fired["createdAt"] == at(now)
    assert [(r["id"], r["triggeredBy"]) for r in runs(api, pid)] == [(fired["id"], "schedule")]
    api.emu.advance(1)
    assert api.ok("GET", f"/pipelines/{pid}/versions/1/dispatches/{fired['id']}/status")["status"] == "COMPLETED"


def test_runs_created_through_the_api_say_so(api: Api) -> None:
    pid = api.pipeline()["id"]
    did = api.run(pid)
    assert api.ok("GET", f"/pipelines/{pid}/dispatches/{did}")["triggeredBy"] == "api"


def test_a_fired_run_keeps_the_schedules_image_version(api: Api) -> None:
    image_id = api.ok("POST", "/pipelines/images", 201, json={"name": "img", "pip": ["x"]})["id"]
    api.ok("PATCH", f"/pipelines/images/{image_id}", json={"name": "img", "packages": ["y"]})  # v2, now the newest
    _, sid, _ = scheduled(api, image_id=image_id, image_version=1)
    fired = api.emu.fire_schedule(sid)
    assert (fired["imageId"], fired["imageVersion"]) == (image_id, 1)


def test_schedule_admin_endpoints_answer_loopback_only_and_check_their_input() -> None:
    async def ask(client: tuple[str, int], path: str, body: dict[str, Any] | None = None) -> int:
        transport = httpx.ASGITransport(app=create_app(), client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
            return (await http.post(path, json=body)).status_code

    missing = "/_emulator/schedules/000000000000000000000000"
    assert asyncio.run(ask(("10.1.2.3", 5000), f"{missing}/fire")) == 403
    assert asyncio.run(ask(("10.1.2.3", 5000), f"{missing}/status", {"status": "PAUSED"})) == 403
    assert asyncio.run(ask(("127.0.0.1", 5000), f"{missing}/fire")) == 404
    assert asyncio.run(ask(("127.0.0.1", 5000), f"{missing}/status", {"status": "DELETED"})) == 422
