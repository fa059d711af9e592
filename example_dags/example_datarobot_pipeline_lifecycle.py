"""A pipeline's whole life from a DAG, operators only: image, deploy, dry run, run by name, results.

What a team shipping pipeline code with its DAGs schedules after each merge. The source file lives next to
this DAG (``pipelines/score_customers.py``; ``.airflowignore`` keeps Airflow from parsing it). Everything is
found by name, so the DAG moves unchanged between a dev and a prod DataRobot.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_drpipelines.operators import (
    DataRobotDeployPipelineOperator,
    DataRobotPipelineImageOperator,
    DataRobotRunPipelineOperator,
)

PIPELINE_NAME = "Score customers (lifecycle example)"
PAYLOAD = {"batch_date": "{{ ds }}", "limit": 10}

with DAG(
    dag_id="example_datarobot_pipeline_lifecycle",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "datarobot"],
) as dag:
    image = DataRobotPipelineImageOperator(
        task_id="build_image",
        name="score-customers",
        packages=["pandas==2.2.2", "scikit-learn==1.5.1"],
        python_version="3.12",
        timeout=1800,
        deferrable=True,
        poll_interval=1,
    )

    deploy = DataRobotDeployPipelineOperator(
        task_id="deploy",
        source="pipelines/score_customers.py",  # relative to this DAG's folder
        pipeline_name=PIPELINE_NAME,
        description="Deployed by Airflow",
        image_id="{{ ti.xcom_pull(task_ids='build_image') }}",
        timeout=600,
        deferrable=True,
        poll_interval=1,
    )

    check = DataRobotRunPipelineOperator(
        task_id="dry_run",
        pipeline_name=PIPELINE_NAME,
        version="latest",
        payload=PAYLOAD,
        push_results=["publish"],
        dry_run=True,
    )

    run = DataRobotRunPipelineOperator(
        task_id="run",
        pipeline_name=PIPELINE_NAME,
        version="{{ ti.xcom_pull(task_ids='deploy', key='version') }}",
        payload=PAYLOAD,
        push_results=["publish"],
        retry_failed_runs=False,  # a FAILED run is the code's fault: fail now; ERRORED still retries
        retries=2,
        deferrable=True,
        poll_interval=2,
    )

    @task
    def report(results: dict[str, Any]) -> Any:
        """What the pipeline's ``publish`` task returned, straight from XCom."""
        published = results["publish"]
        print(f"publish {published['status']}: {published.get('value')}")
        return published.get("value")

    image >> deploy >> check >> run
    report(run.output["pipeline_results"])
