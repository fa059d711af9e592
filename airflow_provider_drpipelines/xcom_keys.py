"""Every XCom key the provider's tasks push, and the key of the run record in the task state store.

One module, so a downstream task, the extra link and the operators read the same names. The run operator
pushes the run's keys before it waits, so links and downstream tasks work even when the run fails.
"""

from __future__ import annotations

from typing import Final

#: The run's id.
RUN_ID_XCOM_KEY: Final = "run_id"
#: The run's page in the DataRobot UI, which the extra link shows.
RUN_URL_XCOM_KEY: Final = "run_url"
#: The version number run (None for the draft), handy after ``version="latest"``.
VERSION_XCOM_KEY: Final = "pipeline_version"
#: The per-task results the run and results operators push.
RESULTS_XCOM_KEY: Final = "pipeline_results"
#: The report of a dry run that found problems (a passing one is the return value).
DRY_RUN_XCOM_KEY: Final = "dry_run_report"
#: What the deploy operator deployed: the pipeline, its locked version, and whether this try changed it.
DEPLOYED_PIPELINE_ID_XCOM_KEY: Final = "pipeline_id"
DEPLOYED_VERSION_XCOM_KEY: Final = "version"
DEPLOYED_CHANGED_XCOM_KEY: Final = "changed"
#: The execution image version the image operator made ready.
IMAGE_VERSION_XCOM_KEY: Final = "image_version"
#: Key of the run this task started, in Airflow >= 3.3's task state store (kept across tries); not an XCom.
RUN_STATE_KEY: Final = "datarobot_pipeline_run"
