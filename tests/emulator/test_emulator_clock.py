"""The emulator's clock: advancing it moves runs, versions and image builds and their timestamps; the
admin endpoint that advances it answers loopback clients only."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime

import httpx
import pytest
import requests

from airflow_provider_drpipelines.emulator import Clock, EmulatorServer, create_app

from .client import Api, pipeline_source
from .conftest import FROZEN_AT


def epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def test_the_default_clock_is_real_time_plus_what_it_was_advanced_by() -> None:
    clock = Clock()
    assert clock.follows_real_time and clock.offset == 0.0
    before = time.time()
    reading = clock()
    assert before <= reading <= time.time()
    clock.advance(30)
    before = time.time()
    reading = clock()
    assert before + 30 <= reading <= time.time() + 30
    assert clock.offset == 30 and not clock.follows_real_time


def test_a_frozen_clock_moves_only_when_advanced() -> None:
    clock = Clock(frozen_at=1000.0)
    assert clock() == clock() == 1000.0 and not clock.follows_real_time
    assert clock.advance(2.5) == 1002.5
    assert clock.advance(0) == 1002.5


@pytest.mark.parametrize("seconds", [-1.0, math.inf, math.nan])
def test_the_clock_never_moves_backwards_or_to_infinity(seconds: float) -> None:
    clock = Clock(frozen_at=1000.0)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(seconds)
    assert clock() == 1000.0


def test_advancing_moves_a_run_through_its_states_and_timestamps(api: Api) -> None:
    pid = api.pipeline()["id"]
    did = api.run(pid, {"_emulator": {"seconds": 10}})
    created = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}")
    assert (created["status"], created["covalentDispatchId"]) == ("PENDING", None)
    start = epoch(created["createdAt"])
    assert start >= FROZEN_AT  # the frozen clock's timeline, not the wall clock's
    api.emu.advance(1.5)
    preparing = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}")
    assert preparing["status"] == "PREPARING" and epoch(preparing["updatedAt"]) == pytest.approx(start + 1.0)
    api.emu.advance(3.5)  # 5 s in: RUNNING, the first of two tasks done at 6.25 s
    tasks = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks")
    assert [t["status"] for t in tasks] == ["RUNNING", "PENDING"]
    assert epoch(tasks[0]["startedAt"]) == pytest.approx(start + 2.5)
    api.emu.advance(30)
    done = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}")
    assert done["status"] == "COMPLETED" and epoch(done["updatedAt"]) == pytest.approx(start + 10)
    tasks = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks")
    assert [t["status"] for t in tasks] == ["COMPLETED", "COMPLETED"]
    assert epoch(tasks[1]["completedAt"]) == pytest.approx(start + 10)


def test_advancing_moves_versions_and_image_builds(api: Api) -> None:
    pid = api.locked(pipeline_source())
    image = api.ok("POST", "/pipelines/images", 201, json={"name": "clocked", "pip": ["pandas==2.2"]})
    assert api.ok("GET", f"/pipelines/{pid}/versions/1")["status"] == "PENDING"
    assert image["versions"][0]["status"] == "CREATING"
    api.emu.advance(0.35)
    assert api.ok("GET", f"/pipelines/{pid}/versions/1")["status"] == "READY"
    built = api.ok("GET", f"/pipelines/images/{image['id']}")["versions"][0]
    assert built["status"] == "READY" and built["imageUri"]
    assert epoch(built["updatedAt"]) == pytest.approx(epoch(built["createdAt"]) + 0.3)


def test_the_launcher_shows_and_advances_the_clock(emu: EmulatorServer) -> None:
    shown = emu.clock()
    moved = emu.advance(12.5)
    assert moved["advancedSeconds"] == pytest.approx(shown["advancedSeconds"] + 12.5)
    assert moved["epochSeconds"] == pytest.approx(shown["epochSeconds"] + 12.5)
    assert moved["frozen"] is True and epoch(moved["now"]) == pytest.approx(moved["epochSeconds"], abs=0.001)


def test_reset_keeps_the_clock(api: Api) -> None:
    api.emu.advance(5)
    before = api.emu.clock()["epochSeconds"]
    api.emu.reset()
    assert api.emu.clock()["epochSeconds"] == before


@pytest.mark.parametrize("body", [{"seconds": -1}, {}, {"seconds": "soon"}])
def test_advance_refuses_what_is_not_a_forward_move(emu: EmulatorServer, body: dict[str, object]) -> None:
    before = emu.clock()["epochSeconds"]
    response = requests.post(f"{emu.base_url}/_emulator/clock/advance", json=body, timeout=5)
    assert response.status_code == 422
    assert emu.clock()["epochSeconds"] == before


def test_a_real_time_emulator_is_advanced_past_a_long_run_without_waiting_for_it() -> None:
    """The default clock: the run finishes when advanced, while real time goes on passing."""
    with EmulatorServer(token="t", run_seconds=3600) as emu:
        api = Api(emu)
        pid = api.pipeline()["id"]
        did = api.run(pid)
        assert api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/status")["status"] == "PENDING"
        shown = emu.advance(3600)
        assert shown["frozen"] is False and shown["advancedSeconds"] == 3600
        assert api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/status")["status"] == "COMPLETED"


def test_an_in_process_clock_can_be_advanced_directly() -> None:
    clock = Clock(frozen_at=FROZEN_AT)
    with EmulatorServer(token="t", run_seconds=1, clock=clock) as emu:
        api = Api(emu)
        pid = api.pipeline()["id"]
        did = api.run(pid)
        clock.advance(1)
        assert api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/status")["status"] == "COMPLETED"
        assert emu.clock()["advancedSeconds"] == 1


def test_advancing_the_clock_is_refused_to_remote_clients() -> None:
    clock = Clock(frozen_at=FROZEN_AT)
    app = create_app(clock=clock)

    async def advance(client: tuple[str, int]) -> int:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
            return (await http.post("/_emulator/clock/advance", json={"seconds": 60})).status_code

    assert asyncio.run(advance(("10.1.2.3", 5000))) == 403
    assert clock() == FROZEN_AT
    assert asyncio.run(advance(("127.0.0.1", 5000))) == 200
    assert clock() == FROZEN_AT + 60
