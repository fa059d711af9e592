"""The installed wheel, checked the way a user meets it (run by scripts/install_test.sh, never from the checkout).

install_test.sh copies this file, one example DAG and the example pipeline's source into a scratch directory
outside the checkout and runs pytest there with the fresh virtualenv's Python, so everything below comes
from the installed wheel: the provider, its entry point, the emulator's console script.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import runpy
import select
import signal
import subprocess
import sys
import sysconfig
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DAGS = HERE / "dags"
PIPELINE_SOURCE = HERE / "score_customers.py"
DAG_ID = "example_datarobot_pipeline_run"
DISTRIBUTION = "airflow-provider-drpipelines"
EXPECTED_VERSION = os.environ["EXPECTED_VERSION"]  # the version in the wheel's file name
TOKEN = "install-test-token-0123456789"
READY_TIMEOUT = 60.0

# A private Airflow home and dags folder, set before anything imports airflow.
os.environ.update(
    {
        "AIRFLOW_HOME": str(HERE / "airflow-home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
)
if int(importlib.metadata.version("apache-airflow").split(".")[0]) < 3:
    # Airflow 2 refuses LocalExecutor (its default) on SQLite; Airflow 3 has no SequentialExecutor.
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"


def _airflow(*args: str) -> str:
    """Run the installed ``airflow`` CLI; its stdout, or a failure naming the command and its output."""
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    return result.stdout


def test_provider_comes_from_the_installed_wheel() -> None:
    import airflow_provider_drpipelines

    site_packages = Path(sysconfig.get_paths()["purelib"])
    assert Path(airflow_provider_drpipelines.__file__).is_relative_to(site_packages)
    dist = importlib.metadata.distribution(DISTRIBUTION)
    assert dist.version == airflow_provider_drpipelines.__version__ == EXPECTED_VERSION
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    assert "archive_info" in direct_url, f"not installed from a wheel file: {direct_url}"  # editable: dir_info


def test_installed_requirements_are_consistent() -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_entry_point_loads_the_provider_info() -> None:
    (entry_point,) = importlib.metadata.distribution(DISTRIBUTION).entry_points.select(group="apache_airflow_provider")
    assert entry_point.value == "airflow_provider_drpipelines.get_provider_info:get_provider_info"
    info = entry_point.load()()
    assert info["package-name"] == DISTRIBUTION
    assert info["versions"] == [EXPECTED_VERSION]


def test_airflow_providers_list_shows_the_provider_and_its_version() -> None:
    listed = json.loads(_airflow("providers", "list", "--output", "json"))
    ours = [entry for entry in listed if entry["package_name"] == DISTRIBUTION]
    assert [entry["version"] for entry in ours] == [EXPECTED_VERSION], listed


def test_connection_type_is_registered() -> None:
    from airflow.providers_manager import ProvidersManager

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ProvidersManager.hooks is deprecated for task-runtime use in 3.3
        manager = ProvidersManager()  # type: ignore[no-untyped-call]
        hook_info = manager.hooks["datarobot_pipelines"]
        behaviour = manager.field_behaviours["datarobot_pipelines"]
    assert hook_info is not None
    assert hook_info.package_name == DISTRIBUTION
    assert hook_info.hook_class_name == "airflow_provider_drpipelines.hooks.DataRobotPipelinesHook"
    assert behaviour["relabeling"]["password"] == "API token"


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    """``drpipelines-emulator`` (the console script) on a free port; its base URL from the ready line."""
    command = [str(Path(sys.executable).parent / "drpipelines-emulator"), "--port", "0", "--token", TOKEN]
    process = subprocess.Popen(
        [*command, "--run-seconds", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT
    try:
        while not output or "listening on " not in output[-1]:
            ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            line = process.stdout.readline() if ready else ""
            assert line, f"drpipelines-emulator printed no ready line within {READY_TIMEOUT:g} s: {output}"
            output.append(line)
        yield output[-1].split("listening on ", 1)[1].strip().removesuffix("/api/v2")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


def test_emulator_console_script_serves_the_api(emulator_url: str) -> None:
    import requests

    url = f"{emulator_url}/api/v2/pipelines/"
    assert requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).status_code == 200
    assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401


def test_example_dag_runs_with_dag_test(emulator_url: str) -> None:
    os.environ["AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT"] = json.dumps(
        {"conn_type": "datarobot_pipelines", "host": emulator_url, "password": TOKEN}
    )
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

    hook = DataRobotPipelinesHook()
    pipeline_id = hook.create_pipeline(PIPELINE_SOURCE, description="install test")["id"]
    hook.lock_pipeline(pipeline_id)
    _airflow("db", "migrate")

    namespace = runpy.run_path(str(DAGS / f"{DAG_ID}.py"))
    dag = next(value for value in namespace.values() if getattr(value, "dag_id", None) == DAG_ID)
    dag_run = dag.test(run_conf={"pipeline_id": pipeline_id})

    task_states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert str(dag_run.state) == "success", task_states
    assert task_states == dict.fromkeys(("create_input", "run_pipeline", "report"), "success")
    (run,) = hook.iterate(hook.list_runs, pipeline_id, 1)
    assert run["status"] == "COMPLETED"
