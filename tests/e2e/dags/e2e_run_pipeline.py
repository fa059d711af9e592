"""The DAGs the real-deployment (e2e) suite triggers; each run's conf names the pipeline and scripts the run.

``e2e_deferrable_run`` conf: ``{"pipeline_id": "...", "script": {"seconds": 3.0, "outcome": "COMPLETED"}}``.
``e2e_next_run`` conf: ``{"pipeline_id": "...", "ended_after": "<ISO-8601>"}``: the next-run sensor.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_drpipelines.operators import DataRobotRunPipelineOperator
from airflow_provider_drpipelines.sensors import DataRobotPipelineRunSensor

with DAG(
    "e2e_deferrable_run",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=8,
    tags=["e2e"],
) as e2e_deferrable_run:
    DataRobotRunPipelineOperator(
        task_id="run",
        pipeline_id="{{ dag_run.conf['pipeline_id'] }}",
        version="latest",
        payload={"airflow_run": "{{ run_id }}", "_emulator": "{{ dag_run.conf.get('script', {}) }}"},
        deferrable=True,
        poll_interval=1,
        max_poll_interval=1,
        hook_params={"retry_delay": 0.2},
    )

with DAG(
    "e2e_next_run",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["e2e"],
) as e2e_next_run:
    # Deferrable with ended_after: on Airflow 3.3 it starts in the triggerer, no worker until a run has ended.
    DataRobotPipelineRunSensor(
        task_id="run",
        pipeline_id="{{ dag_run.conf['pipeline_id'] }}",
        ended_after="{{ dag_run.conf['ended_after'] }}",
        deferrable=True,
        poke_interval=1,
        max_poll_interval=1,
        timeout=300,
    )
