"""Every example DAG parses cleanly and runs to success on the emulator (dag.test())."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_drpipelines.emulator import EmulatorServer
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests.integration.conftest import REPO, run_dag

pytestmark = pytest.mark.integration

EXAMPLES = REPO / "tests" / "dags" / "examples"  # a link to example_dags/, inside the dags folder dag.test() reads
EXAMPLE_DAG_IDS = {
    "example_datarobot_pipeline_run",
    "example_datarobot_pipeline_fan_out",
    "example_datarobot_pipeline_fire_and_watch",
    "example_datarobot_pipeline_lifecycle",
    "example_datarobot_pipeline_deploy_on_change",
    "example_datarobot_pipeline_lineage",
    "example_datarobot_pipeline_lineage_consumer",
} | ({"example_datarobot_pipeline_event_driven"} if AIRFLOW_V_3_0_PLUS else set())  # AssetWatcher: Airflow >= 3.0


def test_every_example_dag_parses_without_import_errors() -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.2
    except ImportError:
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "example_dags"))  # examples off: AIRFLOW__CORE__LOAD_EXAMPLES=False

    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXAMPLE_DAG_IDS


def _runs_of(hook: DataRobotPipelinesHook, pipeline_id: str) -> list[dict[str, Any]]:
    return list(hook.iterate(hook.list_runs, pipeline_id, 1))


@pytest.mark.parametrize(
    ("dag_id", "expected_tasks", "expected_runs"),
    [
        ("example_datarobot_pipeline_run", {"create_input", "run_pipeline", "report"}, 1),
        ("example_datarobot_pipeline_fan_out", {"score_region"}, 3),
        ("example_datarobot_pipeline_fire_and_watch", {"start_run", "watch_run", "cancel_run_on_failure"}, 1),
    ],
)
def test_example_dag_runs_to_success(
    dag_id: str, expected_tasks: set[str], expected_runs: int, pipeline_id: str, emulator: EmulatorServer
) -> None:
    hook = DataRobotPipelinesHook()
    before = {r["id"] for r in _runs_of(hook, pipeline_id)}

    result = run_dag(EXAMPLES / f"{dag_id}.py", dag_id, {"pipeline_id": pipeline_id})

    assert result.state == "success", result
    assert set(result.task_states) == expected_tasks
    created = [r for r in _runs_of(hook, pipeline_id) if r["id"] not in before]
    assert len(created) == expected_runs
    assert {r["status"] for r in created} == {"COMPLETED"}
    if dag_id == "example_datarobot_pipeline_fire_and_watch":
        assert result.task_states["cancel_run_on_failure"] == "skipped", "nothing failed, so nothing is cancelled"
