"""The provider's operators, at the import path DAG files have always used.

Importing this package stays cheap at DAG-parse time: the hook, the triggers and the HTTP client load only
when a task runs (``tests/unit/test_import_cost.py``, ``bench/parse_cost.py``).
"""

from __future__ import annotations

from airflow_provider_drpipelines.operators.lifecycle import (
    DataRobotDeployPipelineOperator,
    DataRobotPipelineImageOperator,
)
from airflow_provider_drpipelines.operators.results import DataRobotGetPipelineRunResultsOperator
from airflow_provider_drpipelines.operators.run import (
    DataRobotCancelPipelineRunOperator,
    DataRobotCreatePipelineInputOperator,
    DataRobotRunPipelineOperator,
)
from airflow_provider_drpipelines.utils.pipeline_task import PipelineTaskMixin
from airflow_provider_drpipelines.utils.templating import resolve_payload
from airflow_provider_drpipelines.xcom_keys import RUN_STATE_KEY

__all__ = [
    "RUN_STATE_KEY",
    "DataRobotCancelPipelineRunOperator",
    "DataRobotCreatePipelineInputOperator",
    "DataRobotDeployPipelineOperator",
    "DataRobotGetPipelineRunResultsOperator",
    "DataRobotPipelineImageOperator",
    "DataRobotRunPipelineOperator",
    "PipelineTaskMixin",
    "resolve_payload",
]
