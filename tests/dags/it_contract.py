"""DAGs of the contract tests (dag.test()): a run whose task results Airflow may not be able to store."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_drpipelines.operators import DataRobotRunPipelineOperator

#: The connection the test points at its scripted server (the emulator cannot serve JSON this deep).
SCRIPTED_CONN_ID = "it_scripted_api"

with DAG("it_results_of_an_input", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as it_results:
    DataRobotRunPipelineOperator(
        task_id="run",
        datarobot_pipelines_conn_id=SCRIPTED_CONN_ID,
        pipeline_id="p1",
        version=1,
        input_id="i1",
        push_results=True,
        retries=0,
        hook_params={"retry_limit": 1},
    )
