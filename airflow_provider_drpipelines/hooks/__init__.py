"""The provider's hook, at the import path DAG files and Airflow's connection registry use."""

from __future__ import annotations

from airflow_provider_drpipelines.hooks.pipelines import DataRobotPipelinesHook

__all__ = ["DataRobotPipelinesHook"]
