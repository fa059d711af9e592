"""The DAGs of the production-shaped suite; each run's conf names the pipeline and scripts the runs.

``prod_fanout``: the run operator, deferrable, mapped over ``conf["tasks"]`` payloads whose emulator runs last
from ``min_seconds`` to ``max_seconds`` (spread evenly). ``prod_worker_wait``: one task waiting in its worker
slot (``deferrable=False``) with retries, for the worker-crash scenario; ``conf["script"]`` scripts its run.
Every payload names its dag run and slot, so each emulator run can be traced back to its task.
``prod_watched``: scheduled on an asset whose watcher (the event trigger, on one of the two triggerers) follows
the pipeline ``DRPIPELINES_E2E_WATCHED_PIPELINE_ID`` names, uploaded by the suite before Airflow starts.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_drpipelines.operators import DataRobotRunPipelineOperator
from airflow_provider_drpipelines.triggers import DataRobotPipelineRunEventTrigger

PIPELINE_ID = "{{ dag_run.conf['pipeline_id'] }}"
POLLING = {"poll_interval": 2, "max_poll_interval": 2, "hook_params": {"retry_delay": 0.2}}


@task
def payloads(**context: Any) -> list[dict[str, Any]]:
    conf = context["dag_run"].conf
    count, low, high = int(conf["tasks"]), float(conf["min_seconds"]), float(conf["max_seconds"])
    step = (high - low) / max(count - 1, 1)
    return [
        {"dag_run": context["run_id"], "slot": slot, "_emulator": {"seconds": round(low + slot * step, 2)}}
        for slot in range(count)
    ]


with DAG(
    "prod_fanout",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=4,
    max_active_tasks=500,
    tags=["e2e_prod"],
):
    DataRobotRunPipelineOperator.partial(
        task_id="run", pipeline_id=PIPELINE_ID, version="latest", deferrable=True, **POLLING
    ).expand(payload=payloads())

with DAG(
    "prod_worker_wait",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["e2e_prod"],
):
    DataRobotRunPipelineOperator(
        task_id="run",
        pipeline_id=PIPELINE_ID,
        version="latest",
        payload={"dag_run": "{{ run_id }}", "slot": -1, "_emulator": "{{ dag_run.conf.get('script', {}) }}"},
        deferrable=False,
        retries=2,
        retry_delay=timedelta(seconds=1),
        **POLLING,
    )

WATCHED_RUNS = Asset(
    "datarobot://e2e-prod/watched_runs",
    watchers=[
        AssetWatcher(
            name="prod_watched_runs",
            trigger=DataRobotPipelineRunEventTrigger(
                pipeline_id=os.environ["DRPIPELINES_E2E_WATCHED_PIPELINE_ID"], poll_interval=1
            ),
        )
    ],
)

with DAG("prod_watched", schedule=[WATCHED_RUNS], start_date=datetime(2024, 1, 1), catchup=False, tags=["e2e_prod"]):

    @task
    def triggering_runs(**context: Any) -> list[str]:
        return [event.extra["payload"]["run_id"] for event in context["triggering_asset_events"][WATCHED_RUNS]]

    triggering_runs()
