"""A DAG written against the import paths documented before the role folders (issue 22) runs unchanged."""

from __future__ import annotations

import importlib

import pytest

from airflow_provider_drpipelines.emulator import EmulatorServer
from tests.integration.conftest import PIPELINE_SOURCE, REPO, run_dag

pytestmark = pytest.mark.integration

DAG_FILE = REPO / "tests" / "dags" / "it_todays_import_paths.py"
#: What each documented module defined itself before the move (read off its source at commit 750acf1).
EXPORTED_BEFORE_THE_MOVE = {
    "hooks": ["DataRobotPipelinesHook"],
    "operators": [
        "DataRobotCancelPipelineRunOperator",
        "DataRobotCreatePipelineInputOperator",
        "DataRobotDeployPipelineOperator",
        "DataRobotGetPipelineRunResultsOperator",
        "DataRobotPipelineImageOperator",
        "DataRobotRunPipelineOperator",
        "PipelineTaskMixin",
        "RUN_STATE_KEY",
        "resolve_payload",
    ],
    "sensors": ["DataRobotPipelineRunSensor"],
    "triggers": [
        "DataRobotPipelineRunTrigger",
        "EVENT_ERROR",
        "EVENT_TIMEOUT",
        "USER_ACTION_CANCEL_MSG",
        "task_instance_identity",
    ],
    "links": ["DataRobotPipelineRunLink", "RUN_ID_XCOM_KEY", "RUN_URL_XCOM_KEY", "VERSION_XCOM_KEY"],
    "readiness": ["DataRobotReadinessTrigger"],
}


@pytest.mark.parametrize("module", sorted(EXPORTED_BEFORE_THE_MOVE))
def test_every_documented_module_still_exports_what_it_defined(module: str) -> None:
    loaded = importlib.import_module(f"airflow_provider_drpipelines.{module}")

    missing = [name for name in EXPORTED_BEFORE_THE_MOVE[module] if not hasattr(loaded, name)]

    assert missing == []


def test_a_dag_written_against_todays_import_paths_runs_to_success(emulator: EmulatorServer, airflow_db: None) -> None:
    result = run_dag(DAG_FILE, "it_todays_import_paths", {"source": str(PIPELINE_SOURCE), "name": "Todays Paths"})

    assert result.state == "success", result
    assert set(result.task_states.values()) == {"success"}, result.task_states
    checked = result.xcoms[("names_still_mean_what_they_meant", "return_value")]
    assert checked["keys"] == "run_id,run_url,pipeline_version,datarobot_pipeline_run"
    assert checked["classpaths"] == (
        "airflow_provider_drpipelines.readiness.DataRobotReadinessTrigger,"
        "airflow_provider_drpipelines.triggers.DataRobotPipelineRunTrigger"
    )
