"""A deploy's crash and retry under real Airflow (dag.test()) against the emulator's fault rules.

Each "next try" is a second DAG run: a fresh operator instance, as Airflow's retry of the task is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_drpipelines.emulator import EmulatorServer
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests.integration.conftest import PIPELINE_SOURCE, REPO, DagResult, run_dag

pytestmark = pytest.mark.integration

DAGS = REPO / "tests" / "dags" / "it_deploy_pipeline.py"
ID = "[0-9a-f]{24}"
BOTH_MODES = pytest.mark.parametrize("mode", ["worker", "deferrable"])


@pytest.fixture
def hook(emulator: EmulatorServer, airflow_db: None) -> DataRobotPipelinesHook:
    return DataRobotPipelinesHook(retry_delay=0.05)


@pytest.fixture
def faults(emulator: EmulatorServer) -> Any:
    yield emulator
    emulator.clear_faults()


def _deploy(dag_id: str, source: Path, name: str) -> DagResult:
    return run_dag(DAGS, dag_id, {"source": str(source), "name": name})


def _changed(tmp_path: Path) -> Path:
    path = tmp_path / "score_customers.py"
    path.write_text(PIPELINE_SOURCE.read_text() + "\n# v2\n")
    return path


def _named(hook: DataRobotPipelinesHook, name: str) -> list[dict[str, Any]]:
    return [p for p in hook.iterate(hook.list_pipelines) if p["name"] == name]


def _assert_one_locked_with_v2(hook: DataRobotPipelinesHook, name: str, result: DagResult) -> None:
    (only,) = _named(hook, name)
    assert result.xcoms[("deploy", "return_value")] == {"pipeline_id": only["id"], "version": 2}
    assert hook.get_pipeline(only["id"])["mode"] == "locked"
    assert hook.get_version(only["id"], 2)["status"] == "READY"
    assert "# v2" in hook.get_pipeline_source(only["id"], 2)["source"]


@BOTH_MODES
def test_a_try_whose_upload_to_the_clone_fails_is_finished_by_the_next_try(
    mode: str, hook: DataRobotPipelinesHook, faults: EmulatorServer, tmp_path: Path
) -> None:
    name = f"Score customers (upload fails, {mode})"
    assert _deploy(f"it_deploy_{mode}", PIPELINE_SOURCE, name).state == "success"
    faults.add_fault(method="PATCH", path=rf"/pipelines/{ID}/?$", status=503)

    crashed = _deploy(f"it_deploy_one_attempt_{mode}", _changed(tmp_path), name)
    assert crashed.task_states == {"deploy": "failed"}
    assert len(_named(hook, name)) == 2, "the try left its draft clone"
    faults.clear_faults()

    retried = _deploy(f"it_deploy_{mode}", _changed(tmp_path), name)

    assert retried.state == "success", retried
    _assert_one_locked_with_v2(hook, name, retried)


@BOTH_MODES
def test_a_try_whose_delete_of_the_replaced_pipeline_fails_is_finished_by_the_next_try(
    mode: str, hook: DataRobotPipelinesHook, faults: EmulatorServer, tmp_path: Path
) -> None:
    name = f"Score customers (delete fails, {mode})"
    assert _deploy(f"it_deploy_{mode}", PIPELINE_SOURCE, name).state == "success"
    (old,) = _named(hook, name)
    faults.add_fault(method="DELETE", path=rf"/pipelines/{old['id']}/?$", status=503)

    crashed = _deploy(f"it_deploy_one_attempt_{mode}", _changed(tmp_path), name)
    assert crashed.task_states == {"deploy": "failed"}
    assert len(_named(hook, name)) == 2
    faults.clear_faults()

    retried = _deploy(f"it_deploy_{mode}", _changed(tmp_path), name)

    assert retried.state == "success", retried
    _assert_one_locked_with_v2(hook, name, retried)


def test_a_lost_clone_answer_and_a_lost_lock_answer_cost_one_try(
    hook: DataRobotPipelinesHook, faults: EmulatorServer, tmp_path: Path
) -> None:
    name = "Score customers (lost answers)"
    assert _deploy("it_deploy_worker", PIPELINE_SOURCE, name).state == "success"
    faults.add_fault(method="POST", path=r"/clone/?$", status=503, when="after", times=1)
    faults.add_fault(method="PATCH", path=r"/mode/?$", drop=True, when="after", times=1)

    result = _deploy("it_deploy_worker", _changed(tmp_path), name)

    assert result.state == "success", result
    _assert_one_locked_with_v2(hook, name, result)
