"""The "DataRobot pipeline run" extra link, computed from the URL the operator pushes before waiting.

Airflow 3 calls ``get_link`` in the worker when the task finishes or defers; Airflow 2 in the webserver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import TaskInstanceKey

#: XCom keys the run operator pushes before it waits, so links and downstream tasks work even on failure.
RUN_ID_XCOM_KEY = "run_id"
RUN_URL_XCOM_KEY = "run_url"
VERSION_XCOM_KEY = "pipeline_version"


class DataRobotPipelineRunLink(BaseOperatorLink):
    name = "DataRobot pipeline run"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        url = XCom.get_value(key=RUN_URL_XCOM_KEY, ti_key=ti_key)
        return str(url) if url else ""
