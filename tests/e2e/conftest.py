"""Fixtures of the e2e suite: the emulator, the example pipeline and a real Airflow deployment."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_drpipelines.emulator import EmulatorProcess

from .deployment import (
    COMPONENTS,
    DAG_ID,
    PIPELINE_SOURCE,
    START_TIMEOUT,
    TIMINGS,
    TOKEN,
    Deployment,
    free_port,
    phase,
    subprocess_env,
    terminate_on_sigterm,
    wait_for,
)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("e2e timings")
        for line in TIMINGS:
            terminalreporter.write_line(line)


# --- fixtures -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess(token=TOKEN, run_seconds=3.0)
    atexit.register(emu.stop)
    with phase("emulator start"):
        emu.start()
    try:
        yield emu
    finally:
        emu.stop()
        atexit.unregister(emu.stop)


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
    airflow_bin = Path(sys.executable).parent / "airflow"
    if not airflow_bin.exists():
        pytest.skip(f"no airflow executable next to {sys.executable}")
    home = Path(tempfile.mkdtemp(prefix="drpipelines-e2e-home-"))
    (home / "e2e-logs").mkdir()
    api_port = free_port()
    dep = Deployment(home, subprocess_env(home, api_port, connection_json), api_port, airflow_bin)
    atexit.register(dep.stop_all)
    keep_home = False
    failed_before = request.session.testsfailed
    with terminate_on_sigterm():
        try:
            with phase("airflow db migrate"):
                dep.run_cli("db", "migrate")
            with phase("airflow components ready"):
                for name in COMPONENTS:
                    dep.start(name)
                _wait_until_ready(dep)
            yield dep
        except BaseException:
            keep_home = True
            print(dep.diagnostics(60), flush=True)
            raise
        finally:
            with phase("airflow components stop"):
                stopped = f"[e2e] stop: {dep.stop_all()}"
            TIMINGS.append(stopped)
            print(stopped, flush=True)
            atexit.unregister(dep.stop_all)
            keep_home = keep_home or request.session.testsfailed > failed_before
            if keep_home or os.environ.get("DRPIPELINES_E2E_KEEP_HOME"):
                TIMINGS.append(f"[e2e] kept AIRFLOW_HOME {home} (component logs in e2e-logs/, task logs in logs/)")
                print(TIMINGS[-1], flush=True)
            else:
                shutil.rmtree(home, ignore_errors=True)


def _wait_until_ready(dep: Deployment) -> None:
    def healthy() -> bool:
        dep.check_alive()
        try:
            health = dep.get_or_none("/monitor/health")
        except requests.ConnectionError:
            return False
        if not health:
            return False
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all(health.get(part, {}).get("status") == "healthy" for part in parts)

    wait_for("the components to report healthy", healthy, START_TIMEOUT, diagnose=dep.diagnostics)

    def dag_parsed() -> bool:
        dep.check_alive()
        dag = dep.get_or_none(f"/dags/{DAG_ID}")
        return bool(dag) and not dag.get("is_paused", True)

    wait_for(f"DAG {DAG_ID} to be parsed", dag_parsed, START_TIMEOUT, diagnose=dep.diagnostics)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On a failing e2e test, attach the tails of the component logs to the report."""
    report = yield
    if report.failed:
        dep = getattr(item, "funcargs", {}).get("deployment")
        if isinstance(dep, Deployment):
            report.sections.append(("airflow component logs", dep.diagnostics(40)))
    return report
