"""Hand a pipeline run to the DAGs scheduled on its asset, and emit OpenLineage for it.

The producer runs the pipeline with an asset outlet: on success the asset event's ``extra`` carries
``pipeline_id``, ``version``, ``run_id`` and ``run_url``. The consumer, scheduled on that asset, reads the run
id from its triggering asset event and fetches the run's results. With the ``openlineage`` extra installed
the run task also emits OpenLineage START/COMPLETE events with the DataRobot run, and
``inject_openlineage_parent_info`` hands the Airflow task's lineage run to the pipeline through its payload.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Asset, Param, task

from airflow_provider_drpipelines.operators import (
    DataRobotGetPipelineRunResultsOperator,
    DataRobotRunPipelineOperator,
)

EXAMPLE_PIPELINE_ID = os.environ.get("DRPIPELINES_EXAMPLE_PIPELINE_ID", "683c2a1b4f8e1a2b3c4d5e6f")
# Asset on Airflow 3, Dataset on Airflow 2.11 (common.compat picks the right class).
CUSTOMER_SCORES = Asset("datarobot://example/customer_scores")

with DAG(
    dag_id="example_datarobot_pipeline_lineage",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"pipeline_id": Param(EXAMPLE_PIPELINE_ID, type="string", description="A locked pipeline")},
    tags=["example", "datarobot", "lineage"],
) as dag:
    DataRobotRunPipelineOperator(
        task_id="score_customers",
        pipeline_id="{{ params.pipeline_id }}",
        version="latest",
        payload={"batch_date": "{{ ds }}", "limit": 100, "threshold": 0.7},
        inject_openlineage_parent_info=True,
        deferrable=True,
        poll_interval=1,
        outlets=[CUSTOMER_SCORES],
    )

with DAG(
    dag_id="example_datarobot_pipeline_lineage_consumer",
    schedule=[CUSTOMER_SCORES],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "datarobot", "lineage"],
) as consumer_dag:

    @task
    def triggering_run(**context: Any) -> dict[str, Any]:
        """The run from the asset event that triggered this DAG run (the newest, if several queued up)."""
        # Airflow 3: triggering_asset_events; Airflow 2.11: triggering_dataset_events. Keyed by asset/URI.
        events = context.get("triggering_asset_events") or context["triggering_dataset_events"]
        extra = dict(next(iter(events.values()))[-1].extra)
        print(f"Triggered by DataRobot pipeline run {extra['run_id']}: {extra['run_url']}")
        return extra

    run = triggering_run()
    DataRobotGetPipelineRunResultsOperator(
        task_id="fetch_results",
        pipeline_id=run["pipeline_id"],
        run_id=run["run_id"],
        version=run["version"],
    )
