"""The provider's sensor, at the import path DAG files have always used."""

from __future__ import annotations

from airflow_provider_drpipelines.sensors.run import DataRobotPipelineRunSensor

__all__ = ["DataRobotPipelineRunSensor"]
