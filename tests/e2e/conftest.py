"""Fixtures of the e2e suite: the emulator, the example pipeline and a real Airflow deployment."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_drpipelines.emulator import EmulatorProcess

from .deployment import (
    COMPONENTS,
    DAG_ID,
    HEALTH_PARTS,
    PIPELINE_SOURCE,
    TOKEN,
    Deployment,
    airflow_executable,
    emulator_process,
    free_port,
    new_home,
    phase,
    running,
    subprocess_env,
)


# --- fixtures -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with emulator_process(run_seconds=3.0) as emu:
        yield emu


@pytest.fixture(scope="module")
def connection_json(emulator: EmulatorProcess) -> Iterator[str]:
    """The connection for the deployment, also set in this process (the hook uploads the pipeline)."""
    conn = json.dumps({"conn_type": "datarobot_pipelines", "host": emulator.base_url, "password": TOKEN})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT", conn)
        yield conn


@pytest.fixture(scope="module")
def pipeline_id(connection_json: str) -> str:
    """The example pipeline, uploaded and locked (version 1)."""
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

    hook = DataRobotPipelinesHook()
    created = hook.create_pipeline(PIPELINE_SOURCE)
    hook.lock_pipeline(created["id"])
    return str(created["id"])


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest, connection_json: str) -> Iterator[Deployment]:
    """Airflow's four components on SQLite + LocalExecutor, in a fresh AIRFLOW_HOME; stopped whatever happens."""
    airflow_bin = airflow_executable()
    home = new_home("drpipelines-e2e-home-")
    api_port = free_port()
    dep = Deployment(home, subprocess_env(home, api_port, connection_json), api_port, airflow_bin)

    def start() -> None:
        with phase("airflow db migrate"):
            dep.run_cli("db", "migrate")
        with phase("airflow components ready"):
            for name in COMPONENTS:
                dep.start(name)
            dep.wait_until_ready(HEALTH_PARTS, (DAG_ID,))

    with running(request, dep, start):
        yield dep
