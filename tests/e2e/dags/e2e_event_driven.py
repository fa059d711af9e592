"""The consumer DAG of the real-deployment suite: scheduled on an asset watched by the event trigger.

It watches the pipeline named by ``DRPIPELINES_E2E_WATCHED_PIPELINE_ID`` (set by the e2e deployment, which
uploads that pipeline before Airflow starts) and polls every second. Each run that ends COMPLETED or FAILED is
one asset event; the suite reads them, and the DAG runs they triggered, from the REST API.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

WATCHED = os.environ.get("DRPIPELINES_E2E_WATCHED_PIPELINE_ID")

if AIRFLOW_V_3_0_PLUS and WATCHED:
    from airflow.sdk import DAG, Asset, AssetWatcher, task

    from airflow_provider_drpipelines.triggers import DataRobotPipelineRunEventTrigger

    ENDED_RUNS = Asset(
        "datarobot://e2e/ended_runs",
        watchers=[
            AssetWatcher(
                name="e2e_ended_runs",
                trigger=DataRobotPipelineRunEventTrigger(
                    pipeline_id=WATCHED, statuses=["COMPLETED", "FAILED"], poll_interval=1
                ),
            )
        ],
    )

    with DAG(
        "e2e_event_driven",
        schedule=[ENDED_RUNS],
        start_date=datetime(2024, 1, 1),
        catchup=False,
        tags=["e2e"],
    ) as e2e_event_driven:

        @task
        def triggering_runs(**context: Any) -> list[str]:
            return [event.extra["payload"]["run_id"] for event in context["triggering_asset_events"][ENDED_RUNS]]

        triggering_runs()
