"""Real Airflow (``dag.test()``) against the emulator, in one pytest process so Airflow starts once."""

from __future__ import annotations

import functools
import logging
import os
import re
import runpy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_drpipelines.emulator import EmulatorServer

TOKEN = "it-secret-token-0123456789"
REPO = Path(__file__).resolve().parents[2]
PIPELINE_SOURCE = REPO / "example_dags" / "pipelines" / "score_customers.py"
_DAG_MODULES: dict[Path, dict[str, Any]] = {}


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(token=TOKEN, run_seconds=1.0) as emu:
        previous = os.environ.get("AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT")
        os.environ["AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT"] = (
            f'{{"conn_type": "datarobot_pipelines", "host": "{emu.base_url}", "password": "{TOKEN}",'
            # A 5 s request timeout keeps a lost create's reconcile window at its 10 s floor (not 60 s).
            ' "extra": {"timeout": 5}}'
        )
        yield emu
        if previous is None:
            del os.environ["AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT"]
        else:
            os.environ["AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT"] = previous


@pytest.fixture(scope="session", autouse=True)
def _one_in_process_execution_api() -> Iterator[None]:
    """Airflow 3.0-3.2's dag.test() builds a new in-process execution API app for every task (4-5 s of router
    set-up each on these machines); one per process is what Airflow 3.3 does (an lru_cache). Airflow 2.11 has
    no such app."""
    try:
        from airflow.sdk.execution_time import supervisor
    except ImportError:  # Airflow 2.11
        yield
        return
    original = supervisor.in_process_api_server
    supervisor.in_process_api_server = functools.cache(original)
    yield
    supervisor.in_process_api_server = original


@pytest.fixture(scope="session")
def airflow_db() -> None:
    from airflow.utils import db

    db.resetdb()


@pytest.fixture(scope="session")
def pipeline_id(emulator: EmulatorServer, airflow_db: None) -> str:
    """The example pipeline, uploaded and locked once (version 1)."""
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

    hook = DataRobotPipelinesHook()
    created = hook.create_pipeline(PIPELINE_SOURCE)
    hook.lock_pipeline(created["id"])
    return str(created["id"])


@dataclass
class DagResult:
    run_id: str
    state: str
    task_states: dict[str, str]
    xcoms: dict[tuple[str, str], Any]


def dag_module(dag_file: Path) -> dict[str, Any]:
    """The globals of a DAG file, run once per test session: what its DAGs' callbacks write to."""
    if dag_file not in _DAG_MODULES:
        _DAG_MODULES[dag_file] = runpy.run_path(str(dag_file))
    return _DAG_MODULES[dag_file]


def run_dag(dag_file: Path, dag_id: str, conf: dict[str, Any]) -> DagResult:
    """Run one DAG of a file under the dags folder with ``dag.test()`` and collect what it left behind."""
    dag = next(v for v in dag_module(dag_file).values() if getattr(v, "dag_id", None) == dag_id)
    dag_run = dag.test(run_conf=conf)
    tis = dag_run.get_task_instances()
    xcoms = {  # of unmapped tasks: Airflow 3.1's TaskInstance.xcom_pull fails on mapped ones
        (ti.task_id, key): ti.xcom_pull(task_ids=ti.task_id, key=key)
        for ti in tis
        if ti.map_index < 0
        for key in ("return_value", "run_id", "run_url", "pipeline_version")
    }
    return DagResult(dag_run.run_id, str(dag_run.state), {ti.task_id: str(ti.state) for ti in tis}, xcoms)


class TaskLog:
    """The task logs of the dag.test() runs so far (printed on Airflow 3, logging records on Airflow 2; a trigger's
    lines with them, as the triggerer ships them into the task log), per sink (stdout, stderr, the logging records):
    Airflow copies each line into more than one."""

    def __init__(self, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
        self._capfd, self._caplog = capfd, caplog
        # Airflow 2.11's dag.test() runs a trigger inline with its loggers at WARNING; a triggerer logs at INFO.
        caplog.set_level(logging.INFO, logger="airflow_provider_drpipelines")
        self.sinks: list[str] = []

    def __call__(self) -> str:
        captured = self._capfd.readouterr()
        self.sinks = [captured.out, captured.err, self._caplog.text]
        return "\n".join(self.sinks)

    def count(self, pattern: str) -> int:
        """How often the log says it, read in the sink that says it least but at all: Airflow 3.0 also prints
        each line twice to stdout (two handlers), so the fewest is the task's own count."""
        return min((n for n in (len(re.findall(pattern, sink)) for sink in self.sinks) if n), default=0)


@pytest.fixture
def task_log(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> TaskLog:
    """Call it after dag.test()."""
    return TaskLog(capfd, caplog)
