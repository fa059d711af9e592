"""The lifecycle examples under real Airflow (dag.test()) against the emulator: deploy, image, dry run, results."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_drpipelines.emulator import EmulatorServer
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests.integration.conftest import REPO, run_dag

pytestmark = pytest.mark.integration

EXAMPLES = REPO / "tests" / "dags" / "examples"  # a link to example_dags/, inside the dags folder dag.test() reads


def _named(hook: DataRobotPipelinesHook, name: str) -> list[dict[str, Any]]:
    return [p for p in hook.iterate(hook.list_pipelines) if p["name"] == name]


def test_lifecycle_example_builds_deploys_checks_runs_by_name_and_reads_results(
    emulator: EmulatorServer, airflow_db: None
) -> None:
    hook = DataRobotPipelinesHook()

    result = run_dag(EXAMPLES / "example_datarobot_pipeline_lifecycle.py", "example_datarobot_pipeline_lifecycle", {})

    assert result.state == "success", result
    assert set(result.task_states.values()) == {"success"}
    (pipeline,) = _named(hook, "Score customers (lifecycle example)")
    detail = hook.get_pipeline(pipeline["id"])
    assert detail["mode"] == "locked" and detail["versions"][-1]["status"] == "READY"
    assert hook.get_image(detail["imageId"])["versions"][0]["status"] == "READY"
    runs = list(hook.iterate(hook.list_runs, pipeline["id"], 1))
    assert [r["status"] for r in runs] == ["COMPLETED"], "the dry run created no run"
    assert len(list(hook.iterate(hook.list_inputs, pipeline["id"], 1))) == 1, "nor an input"
    assert result.xcoms[("run", "run_id")] == runs[0]["id"]
    assert result.xcoms[("report", "return_value")]["task"] == "publish"


def test_deploy_on_change_example_deploys_once_when_run_twice(emulator: EmulatorServer, airflow_db: None) -> None:
    hook = DataRobotPipelinesHook()
    dag_file = EXAMPLES / "example_datarobot_pipeline_deploy_on_change.py"

    first = run_dag(dag_file, "example_datarobot_pipeline_deploy_on_change", {})
    (pipeline,) = _named(hook, "Score customers (deployed on change)")
    second = run_dag(dag_file, "example_datarobot_pipeline_deploy_on_change", {})

    assert (first.state, second.state) == ("success", "success"), (first, second)
    assert first.task_states["smoke_test"] == "success"
    assert second.task_states["smoke_test"] == "skipped", "nothing changed, so nothing is tested"
    assert _named(hook, "Score customers (deployed on change)") == [pipeline]
    assert len(hook.get_pipeline(pipeline["id"])["versions"]) == 1
    assert first.xcoms[("deploy", "return_value")] == second.xcoms[("deploy", "return_value")]
