"""The provider's triggers, at the import path DAG files and stored trigger rows use.

``airflow_provider_drpipelines.triggers.DataRobotPipelineRunTrigger`` is the classpath the run trigger
serializes (``run.CLASSPATH``), and so is the event trigger's (``event.CLASSPATH``; it imports on Airflow 2.11
and refuses to be built there); the readiness trigger's is ``airflow_provider_drpipelines.readiness``.
"""

from __future__ import annotations

from airflow_provider_drpipelines.triggers.base import EVENT_ERROR, EVENT_TIMEOUT
from airflow_provider_drpipelines.triggers.ended import DataRobotPipelineRunEndedTrigger
from airflow_provider_drpipelines.triggers.event import DataRobotPipelineRunEventTrigger
from airflow_provider_drpipelines.triggers.readiness import DataRobotReadinessTrigger
from airflow_provider_drpipelines.triggers.run import (
    USER_ACTION_CANCEL_MSG,
    DataRobotPipelineRunTrigger,
    task_instance_identity,
)

__all__ = [
    "EVENT_ERROR",
    "EVENT_TIMEOUT",
    "USER_ACTION_CANCEL_MSG",
    "DataRobotPipelineRunEndedTrigger",
    "DataRobotPipelineRunEventTrigger",
    "DataRobotPipelineRunTrigger",
    "DataRobotReadinessTrigger",
    "task_instance_identity",
]
