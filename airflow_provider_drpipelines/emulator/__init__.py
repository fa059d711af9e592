"""A local emulator of DataRobot's pipelines REST API (install the ``emulator`` extra).

Start it with ``python -m airflow_provider_drpipelines.emulator`` or ``drpipelines-emulator``;
see docs/emulator.md. Importing it never imports Airflow.
"""

from airflow_provider_drpipelines.emulator.app import create_app
from airflow_provider_drpipelines.emulator.config import Clock, EmulatorConfig
from airflow_provider_drpipelines.emulator.server import EmulatorProcess, EmulatorServer

__all__ = ["Clock", "EmulatorConfig", "EmulatorProcess", "EmulatorServer", "create_app"]
