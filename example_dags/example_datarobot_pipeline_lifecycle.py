"""Deploy pipeline code from git: upload the source file, lock it, run the new version.

What a team shipping pipeline code with its DAGs would schedule after each merge. The source file lives
next to this DAG (``pipelines/score_customers.py``); ``.airflowignore`` keeps Airflow from parsing it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_drpipelines.operators import DataRobotRunPipelineOperator

PIPELINE_SOURCE = Path(__file__).parent / "pipelines" / "score_customers.py"

with DAG(
    dag_id="example_datarobot_pipeline_lifecycle",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "datarobot"],
) as dag:

    @task
    def upload_and_lock() -> dict[str, object]:
        """Register the source as a new pipeline and lock it, so it becomes a runnable version."""
        from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

        hook = DataRobotPipelinesHook()
        pipeline = hook.create_pipeline(PIPELINE_SOURCE, description="Deployed by Airflow")
        locked = hook.lock_pipeline(pipeline["id"])
        return {"pipeline_id": pipeline["id"], "version": locked["version"]}

    deployed = upload_and_lock()

    DataRobotRunPipelineOperator(
        task_id="run_new_version",
        pipeline_id="{{ ti.xcom_pull(task_ids='upload_and_lock')['pipeline_id'] }}",
        version="{{ ti.xcom_pull(task_ids='upload_and_lock')['version'] }}",
        payload={"batch_date": "{{ ds }}", "limit": 10},
        deferrable=True,
        poll_interval=2,
    ).set_upstream(deployed)
