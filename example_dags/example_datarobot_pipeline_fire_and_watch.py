"""Fire and watch: start a run, let a sensor follow it, and cancel it if anything downstream fails.

Useful when the run outlives the task that started it, or when several tasks react to the same run.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param, TriggerRule

from airflow_provider_drpipelines.operators import (
    DataRobotCancelPipelineRunOperator,
    DataRobotRunPipelineOperator,
)
from airflow_provider_drpipelines.sensors import DataRobotPipelineRunSensor

# Your pipeline's id. `make airflow` sets the variable to the example pipeline it uploads to the local emulator.
EXAMPLE_PIPELINE_ID = os.environ.get("DRPIPELINES_EXAMPLE_PIPELINE_ID", "683c2a1b4f8e1a2b3c4d5e6f")

PIPELINE_ID = "{{ params.pipeline_id }}"
VERSION = "{{ ti.xcom_pull(task_ids='start_run', key='pipeline_version') }}"

with DAG(
    dag_id="example_datarobot_pipeline_fire_and_watch",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"pipeline_id": Param(EXAMPLE_PIPELINE_ID, type="string", description="A locked pipeline")},
    tags=["example", "datarobot"],
) as dag:
    start_run = DataRobotRunPipelineOperator(
        task_id="start_run",
        pipeline_id=PIPELINE_ID,
        version="latest",
        payload={"batch_date": "{{ ds }}"},
        wait_for_completion=False,
    )

    watch_run = DataRobotPipelineRunSensor(
        task_id="watch_run",
        pipeline_id=PIPELINE_ID,
        run_id=start_run.output,
        version=VERSION,
        deferrable=True,
        poke_interval=2,
        timeout=3600,
    )

    cancel_run = DataRobotCancelPipelineRunOperator(
        task_id="cancel_run_on_failure",
        pipeline_id=PIPELINE_ID,
        run_id=start_run.output,
        version=VERSION,
        trigger_rule=TriggerRule.ONE_FAILED,
    )

    start_run >> watch_run >> cancel_run
