"""Deploy pipeline code only when it changed, and smoke-test each new version.

Scheduled hourly next to a git sync of ``pipelines/``: a run whose source is unchanged creates nothing
and skips the test run, so running the DAG twice deploys once. A changed source becomes a new locked
version (a locked pipeline is cloned, see the deploy operator), which runs once on a small batch.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_drpipelines.operators import DataRobotDeployPipelineOperator, DataRobotRunPipelineOperator

with DAG(
    dag_id="example_datarobot_pipeline_deploy_on_change",
    schedule="@hourly",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["example", "datarobot"],
) as dag:
    deploy = DataRobotDeployPipelineOperator(
        task_id="deploy",
        source="pipelines/score_customers.py",
        pipeline_name="Score customers (deployed on change)",
        timeout=600,
        poll_interval=2,
    )

    @task.short_circuit
    def changed(deployed: bool) -> bool:
        """Skip the smoke test when this deploy created nothing."""
        return deployed

    smoke_test = DataRobotRunPipelineOperator(
        task_id="smoke_test",
        pipeline_id="{{ ti.xcom_pull(task_ids='deploy', key='pipeline_id') }}",
        version="{{ ti.xcom_pull(task_ids='deploy', key='version') }}",
        payload={"batch_date": "{{ ds }}", "limit": 5},
        retry_failed_runs=False,
    )

    changed(deploy.output["changed"]) >> smoke_test
