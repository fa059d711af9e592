"""Fixtures of the run-orchestration tests: one emulator per module, a connection to it, a locked pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_drpipelines.emulator import EmulatorServer
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests._support.sleeps import FakeClock
from tests.unit.hooks.test_hook_support import install_clock, make_hook

#: The emulator's API token; long enough for Airflow's secrets masker to consider it.
EMU_TOKEN = "emu-secret-token-5f3c9a71"
#: Default scripted run length (the emulator's own default for inputs without ``_emulator.seconds``).
RUN_SECONDS = 0.6
PIPELINE_SOURCE = Path(__file__).resolve().parents[2] / "example_dags" / "pipelines" / "score_customers.py"
FAST_RETRIES = {"retry_delay": 0.01, "retry_max_delay": 0.05}


def scripted(outcome: str = "COMPLETED", seconds: float = 0.3, failing_task: str | None = None, **payload: Any):
    """An input payload whose runs end ``outcome`` after ``seconds`` on the emulator."""
    script: dict[str, Any] = {"outcome": outcome, "seconds": seconds}
    if failing_task is not None:
        script["failing_task"] = failing_task
    return {"batch_date": "2024-01-01", **payload, "_emulator": script}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(token=EMU_TOKEN, run_seconds=RUN_SECONDS, image_seconds=0.3, version_seconds=0.2) as server:
        yield server


@pytest.fixture
def emu_conn(emu: EmulatorServer, conn_env: Any) -> str:
    """The default connection, pointing at a freshly reset emulator (no state, faults or logged requests)."""
    emu.reset()
    return str(conn_env(host=emu.base_url, password=EMU_TOKEN))


@pytest.fixture
def dr_hook(emu_conn: str) -> DataRobotPipelinesHook:
    return DataRobotPipelinesHook(emu_conn, **FAST_RETRIES)


@pytest.fixture
def pipeline(dr_hook: DataRobotPipelinesHook) -> str:
    """A pipeline locked at version 1."""
    pipeline_id: str = dr_hook.create_pipeline(str(PIPELINE_SOURCE))["id"]
    dr_hook.lock_pipeline(pipeline_id)
    return pipeline_id


@pytest.fixture
def draft_pipeline(dr_hook: DataRobotPipelinesHook) -> str:
    pipeline_id: str = dr_hook.create_pipeline(str(PIPELINE_SOURCE))["id"]
    return pipeline_id


def start_run(hook: DataRobotPipelinesHook, pipeline_id: str, payload: dict[str, Any], version: int | None = 1) -> str:
    """Create an input and a run of it directly through the hook; returns the run id."""
    input_id = hook.create_input(pipeline_id, payload, version)["id"]
    run_id: str = hook.create_run(pipeline_id, input_id, version)["id"]
    return run_id


def run_status(hook: DataRobotPipelinesHook, pipeline_id: str, run_id: str, version: int | None = 1) -> str:
    status: str = hook.get_run_status(pipeline_id, run_id, version)["status"]
    return status


class FakeTI:
    """The parts of a task instance the operators use: identity, start date and an XCom push recorder."""

    def __init__(self, journal: list[tuple[str, Any]] | None = None, **identity: Any) -> None:
        self.dag_id = identity.get("dag_id", "dag")
        self.task_id = identity.get("task_id", "task")
        self.run_id = identity.get("run_id", "manual__2024-01-01")
        self.map_index = identity.get("map_index", -1)
        self.try_number = identity.get("try_number", 1)
        self.start_date = identity.get("start_date", datetime.now(timezone.utc))
        self.journal = journal if journal is not None else []
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value
        self.journal.append(("xcom", key))


class FakeStateStore:
    """Airflow 3.3's per-task ``task_state_store``, backed by a dict."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value


def make_context(ti: FakeTI | None = None, store: FakeStateStore | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"ti": ti or FakeTI()}
    if store is not None:
        context["task_state_store"] = store
    return context


async def collect_events(trigger: Any) -> list[dict[str, Any]]:
    """Every event a trigger yields until its ``run()`` returns."""
    return [event.payload async for event in trigger.run()]


def run_events(trigger: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    async def bounded() -> list[dict[str, Any]]:
        return await asyncio.wait_for(collect_events(trigger), timeout)

    return asyncio.run(bounded())


def ago(seconds: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The hooks module's clock, faked: sleeping advances time and is recorded, nothing waits."""
    return install_clock(monkeypatch)


@pytest.fixture
def hook(conn_env: Any, clock: FakeClock) -> DataRobotPipelinesHook:
    """A hook on an env-var connection to a fake host (for requests-mock), with small retry delays."""
    return make_hook(conn_env)
