"""Run a locked DataRobot pipeline version once a day.

What a new user copies first: create an input from a templated payload, run the newest locked version
in the triggerer (no worker slot while it runs), and hand the run id to a downstream task.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_drpipelines.operators import (
    DataRobotCreatePipelineInputOperator,
    DataRobotRunPipelineOperator,
)

# Your pipeline's id. `make airflow` sets the variable to the example pipeline it uploads to the local emulator.
EXAMPLE_PIPELINE_ID = os.environ.get("DRPIPELINES_EXAMPLE_PIPELINE_ID", "683c2a1b4f8e1a2b3c4d5e6f")

with DAG(
    dag_id="example_datarobot_pipeline_run",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"pipeline_id": Param(EXAMPLE_PIPELINE_ID, type="string", description="A locked pipeline")},
    tags=["example", "datarobot"],
) as dag:
    create_input = DataRobotCreatePipelineInputOperator(
        task_id="create_input",
        pipeline_id="{{ params.pipeline_id }}",
        version="latest",
        payload={"batch_date": "{{ ds }}", "limit": 100, "threshold": 0.7},
    )

    run_pipeline = DataRobotRunPipelineOperator(
        task_id="run_pipeline",
        pipeline_id="{{ params.pipeline_id }}",
        version="latest",
        input_id=create_input.output,
        deferrable=True,
        poll_interval=2,
    )

    @task
    def report(pipeline_run_id: str) -> str:
        """Downstream work gets the run id: fetch results, notify, trigger the next step."""
        print(f"DataRobot pipeline run {pipeline_run_id} completed")
        return pipeline_run_id

    report(run_pipeline.output)
