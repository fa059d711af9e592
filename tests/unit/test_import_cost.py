"""Parsing a DAG that uses the provider must not import the hook, the trigger, the emulator or requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = "airflow_provider_drpipelines"
#: Our modules only a running task needs: the hook (requests), the async client (aiohttp), triggers, emulator.
HEAVY_OWN_MODULES = (
    f"{PACKAGE}.hooks",
    f"{PACKAGE}.client.async_client",
    f"{PACKAGE}.client.sync_transport",
    f"{PACKAGE}.client.endpoints",
    f"{PACKAGE}.client.wire",
    f"{PACKAGE}.triggers",
    f"{PACKAGE}.readiness",
)
#: Third-party modules the provider's task code needs, asserted only when ``airflow.sdk`` alone does not load them.
HEAVY_THIRD_PARTY = ("requests", "aiohttp", "httpx", "uvicorn", "fastapi", "starlette", "urllib3")

PROBE = textwrap.dedent(
    """
    import json, sys
    try:
        import airflow.sdk  # what a DAG file imports on Airflow 3
    except ImportError:
        import airflow  # Airflow 2
    from airflow.providers.common.compat.sdk import BaseOperator
    baseline = set(sys.modules)
    BaseOperator(task_id="plain")  # what defining any task loads (Airflow 3.0 loads its serializer here)
    plain = set(sys.modules)
    import airflow_provider_drpipelines.operators as operators
    import airflow_provider_drpipelines.sensors as sensors
    import airflow_provider_drpipelines.links
    imported = set(sys.modules)
    # Defining tasks, as a DAG file does on every parse.
    operators.DataRobotRunPipelineOperator(task_id="run", pipeline_id="p", version=1, payload={"a": 1})
    operators.DataRobotCreatePipelineInputOperator(task_id="input", pipeline_id="p", payload={"a": 1})
    operators.DataRobotCancelPipelineRunOperator(task_id="cancel", pipeline_id="p", run_id="r", version=1)
    sensors.DataRobotPipelineRunSensor(task_id="wait", pipeline_id="p", run_id="r", version=1)
    sensors.DataRobotPipelineRunSensor(task_id="wait_by_name", pipeline_name="n", run_id="r", version=1)
    operators.DataRobotRunPipelineOperator(
        task_id="run_by_name", pipeline_name="n", version=1, payload={"a": 1}, push_results=["t"], dry_run=True
    )
    operators.DataRobotDeployPipelineOperator(task_id="deploy", source="pipelines/p.py", pipeline_name="n")
    operators.DataRobotPipelineImageOperator(task_id="image", name="i", packages=["pandas"], python_version="3.12")
    operators.DataRobotGetPipelineRunResultsOperator(task_id="results", pipeline_name="n", run_id="r")
    defined = set(sys.modules)
    stages = {"baseline": baseline, "plain": plain, "imported": imported, "defined": defined}
    print(json.dumps({name: sorted(loaded) for name, loaded in stages.items()}))
    """
)


@pytest.fixture(scope="module")
def modules() -> dict[str, set[str]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last_line = done.stdout.strip().splitlines()[-1]
    return {name: set(values) for name, values in json.loads(last_line).items()}


def test_the_probe_did_import_the_provider(modules):
    assert f"{PACKAGE}.operators" in modules["imported"] - modules["baseline"]
    assert f"{PACKAGE}.sensors" in modules["imported"]


@pytest.mark.parametrize("stage", ["imported", "defined"])
def test_no_heavy_module_of_ours(modules, stage):
    loaded = modules[stage]
    assert not [m for m in HEAVY_OWN_MODULES if m in loaded]
    assert not [m for m in loaded if m == f"{PACKAGE}.emulator" or m.startswith(f"{PACKAGE}.emulator.")]


@pytest.mark.parametrize("stage", ["imported", "defined"])
def test_no_heavy_third_party_module_beyond_what_airflow_sdk_loads(modules, stage):
    """Beyond what a DAG file's own imports load, and what defining any plain operator loads."""
    added = modules[stage] - modules["baseline"] - modules["plain"]
    assert not [m for m in HEAVY_THIRD_PARTY if m in added]
