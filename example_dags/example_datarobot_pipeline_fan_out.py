"""Fan out: one pipeline run per region, in parallel, with dynamic task mapping.

Each mapped task owns its run: killing one (mark failed, clear) cancels that run only.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_drpipelines.operators import DataRobotRunPipelineOperator

# Your pipeline's id. `make airflow` sets the variable to the example pipeline it uploads to the local emulator.
EXAMPLE_PIPELINE_ID = os.environ.get("DRPIPELINES_EXAMPLE_PIPELINE_ID", "683c2a1b4f8e1a2b3c4d5e6f")

REGIONS = ["emea", "amer", "apac"]

with DAG(
    dag_id="example_datarobot_pipeline_fan_out",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"pipeline_id": Param(EXAMPLE_PIPELINE_ID, type="string", description="A locked pipeline")},
    tags=["example", "datarobot"],
) as dag:
    DataRobotRunPipelineOperator.partial(
        task_id="score_region",
        pipeline_id="{{ params.pipeline_id }}",
        version="latest",
        deferrable=True,
        cancel_on_kill=True,
        poll_interval=2,
    ).expand(payload=[{"batch_date": "{{ ds }}", "region": region, "limit": 50} for region in REGIONS])
