"""The "DataRobot pipeline run" extra link, computed from the URL the operator pushes before waiting.

Airflow 3 calls ``get_link`` in the worker when the task finishes or defers; Airflow 2 in the webserver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

from airflow_provider_drpipelines.xcom_keys import RUN_ID_XCOM_KEY, RUN_URL_XCOM_KEY, VERSION_XCOM_KEY

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import TaskInstanceKey

__all__ = ["RUN_ID_XCOM_KEY", "RUN_URL_XCOM_KEY", "VERSION_XCOM_KEY", "DataRobotPipelineRunLink"]


class DataRobotPipelineRunLink(BaseOperatorLink):
    """The "DataRobot pipeline run" button on a run task: opens the run's page in the DataRobot UI."""

    name = "DataRobot pipeline run"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """The run URL the task pushed; empty (no button) before the task created its run.

        :param operator: the task's operator (unused: the URL comes from XCom).
        :param ti_key: the task instance whose run to link.
        """
        url = XCom.get_value(key=RUN_URL_XCOM_KEY, ti_key=ti_key)
        return str(url) if url else ""
