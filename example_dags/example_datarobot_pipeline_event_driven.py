"""React to pipeline runs Airflow did not start: a DAG run for every run of the pipeline that ends COMPLETED.

The runs may come from DataRobot's own schedules, its UI or other teams' code. An asset watcher runs
``DataRobotPipelineRunEventTrigger`` in the triggerer; each run that ends is one asset event, whose
``extra["payload"]`` is ``{run_id, pipeline_id, version, status, url, ended_at}``, and this DAG, scheduled on
the asset, fetches the results of every run that triggered it. ``make airflow`` gives the example pipeline a
schedule on the emulator that starts a run every two minutes: unpause this DAG and watch it run once per
scheduled run.

Event-driven scheduling (``AssetWatcher``) needs Airflow >= 3.0: on Airflow 2 this file defines no DAG; wait
for the next run with ``DataRobotPipelineRunSensor(ended_after="{{ data_interval_end }}")`` there instead.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

# Your pipeline's id. `make airflow` sets the variable to the example pipeline it uploads to the local emulator.
EXAMPLE_PIPELINE_ID = os.environ.get("DRPIPELINES_EXAMPLE_PIPELINE_ID", "683c2a1b4f8e1a2b3c4d5e6f")

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import DAG, Asset, AssetWatcher, task

    from airflow_provider_drpipelines.operators import DataRobotGetPipelineRunResultsOperator
    from airflow_provider_drpipelines.triggers import DataRobotPipelineRunEventTrigger

    COMPLETED_RUNS = Asset(
        "datarobot://example/completed_runs",
        watchers=[
            AssetWatcher(
                name="datarobot_pipeline_run_completed",
                trigger=DataRobotPipelineRunEventTrigger(
                    pipeline_id=EXAMPLE_PIPELINE_ID,
                    version=None,  # runs of every locked version
                    statuses=["COMPLETED"],
                    poll_interval=30,
                ),
            )
        ],
    )

    with DAG(
        dag_id="example_datarobot_pipeline_event_driven",
        schedule=[COMPLETED_RUNS],
        start_date=datetime(2024, 1, 1),
        catchup=False,
        tags=["example", "datarobot", "event-driven"],
    ) as dag:

        @task
        def ended_runs(**context: Any) -> list[dict[str, Any]]:
            """The runs whose end triggered this DAG run (several, when events queued up while it was busy)."""
            runs = [dict(event.extra["payload"]) for event in context["triggering_asset_events"][COMPLETED_RUNS]]
            for run in runs:
                print(
                    f"DataRobot pipeline run {run['run_id']} ended {run['status']} at {run['ended_at']}: {run['url']}"
                )
            return [{"pipeline_id": r["pipeline_id"], "run_id": r["run_id"], "version": r["version"]} for r in runs]

        DataRobotGetPipelineRunResultsOperator.partial(task_id="fetch_results").expand_kwargs(ended_runs())
