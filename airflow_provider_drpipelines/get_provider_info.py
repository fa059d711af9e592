"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point.

It carries the connection form too (``conn-fields``), which Airflow >= 3.2 renders without importing the hook.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_drpipelines import __version__
from airflow_provider_drpipelines.connection import (
    CONN_TYPE,
    HOOK_NAME,
    provider_conn_fields,
    provider_ui_field_behaviour,
)

INTEGRATION = "DataRobot Pipelines"
PACKAGE = "airflow_provider_drpipelines"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-drpipelines",
        "name": "DataRobot Pipelines",
        "description": "Run DataRobot pipelines from Airflow: hook, operators, deferrable trigger and sensor.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://docs.datarobot.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.hooks"]}],
        "operators": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.operators"]}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.sensors"]}],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.triggers", f"{PACKAGE}.readiness"]}
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": f"{PACKAGE}.hooks.DataRobotPipelinesHook",
                "hook-name": HOOK_NAME,
                "conn-fields": provider_conn_fields(),
                "ui-field-behaviour": provider_ui_field_behaviour(),
            }
        ],
        "extra-links": [f"{PACKAGE}.links.DataRobotPipelineRunLink"],
    }
