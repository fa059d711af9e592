"""``make airflow``: a live local Airflow with the provider, the example DAGs and the emulator, until Ctrl-C.

Starts the emulator, uploads and locks the example pipeline, starts Airflow's components (3.x: api-server,
scheduler, dag-processor, triggerer; 2.x: webserver, scheduler, triggerer) on SQLite with Test enabled,
stores the ``datarobot_pipelines_default`` connection (pointing at the emulator) in Airflow's database, and
prints the URL. The example DAGs' ``pipeline_id`` default is the uploaded pipeline
(``DRPIPELINES_EXAMPLE_PIPELINE_ID``). Ctrl-C (or SIGTERM) stops everything it started.

The Airflow home lives in ``.airflow-local/airflow-<version>/`` (git-ignored) and is reused by the next run;
the emulator keeps its state in memory, so every run uploads the pipeline again. The browser suite (tests/ui)
starts the same deployment through :class:`LocalAirflow`. Process management is the e2e suite's
(tests/_support/deployment.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import requests

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: tests/ is importable from the repository root
    sys.path.insert(0, str(REPO))

from airflow_provider_drpipelines.emulator import EmulatorProcess  # noqa: E402
from tests._support.deployment import (  # noqa: E402
    COMPONENTS,
    PIPELINE_SOURCE,
    START_TIMEOUT,
    Deployment,
    free_port,
    subprocess_env,
    terminate_on_sigterm,
    wait_for,
)

if TYPE_CHECKING:
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

STATE_DIR = REPO / ".airflow-local"
EXAMPLE_DAGS = REPO / "example_dags"
TOKEN = "local-emulator-token-0123456789"
CONN_ID = "datarobot_pipelines_default"
PIPELINE_ENV = "DRPIPELINES_EXAMPLE_PIPELINE_ID"
#: The example pipeline's schedule on the emulator (example_datarobot_pipeline_event_driven reacts to its runs).
SCHEDULE_CRON = "*/2 * * * *"
DEFAULT_AIRFLOW_PORT = 8080
DEFAULT_EMULATOR_PORT = 8100
AIRFLOW_2_COMPONENTS = ("webserver", "scheduler", "triggerer")
#: Airflow 2's UI without a login: every visitor is an admin (a local demo, bound to 127.0.0.1).
AIRFLOW_2_WEBSERVER_CONFIG = 'AUTH_ROLE_PUBLIC = "Admin"\n'


def airflow_major() -> int:
    return int(metadata.version("apache-airflow").split(".")[0])


def port_or_free(preferred: int) -> int:
    """``preferred`` when it is free on 127.0.0.1 (stable URLs across runs), else any free port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is no conflict
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def upload_example_pipeline(conn_json: str) -> str:
    """Upload the example pipeline source to the emulator and lock it (version 1); its id."""
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = conn_json
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

    hook = DataRobotPipelinesHook()
    created = hook.create_pipeline(PIPELINE_SOURCE, description="Example pipeline of make airflow")
    hook.lock_pipeline(created["id"])
    schedule_example_runs(hook, str(created["id"]))
    return str(created["id"])


def schedule_example_runs(hook: DataRobotPipelinesHook, pipeline_id: str) -> None:
    """A DataRobot schedule on the emulator: runs no Airflow task starts, for the event-driven example DAG."""
    image = hook.create_image("make-airflow-example", packages=["pandas"])
    input_id = hook.create_input(pipeline_id, {"batch_date": "scheduled", "limit": 10}, version=1)["id"]
    hook.create_schedule(pipeline_id, 1, input_id, image["id"], 1, SCHEDULE_CRON)


class LocalAirflow:
    """The emulator with the example pipeline, and Airflow's components using it; a context manager."""

    def __init__(self, home: Path, airflow_port: int, emulator_port: int = 0, run_seconds: float = 10.0) -> None:
        self.home = home
        self.major = airflow_major()
        self.url = f"http://127.0.0.1:{airflow_port}"
        self.emulator = EmulatorProcess(port=emulator_port, token=TOKEN, run_seconds=run_seconds)
        self.airflow_port = airflow_port
        self.pipeline_id = ""
        self.deployment: Deployment | None = None

    def connection(self) -> dict[str, object]:
        """The connection as Airflow stores it. The port is the emulator's too: Airflow 3.3.2's Test needs one."""
        return {
            "conn_type": "datarobot_pipelines",
            "host": self.emulator.base_url,
            "port": int(self.emulator.base_url.rsplit(":", 1)[1]),
            "password": TOKEN,
            "description": "The local DataRobot pipelines emulator (make airflow)",
        }

    def __enter__(self) -> LocalAirflow:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self) -> None:
        self.emulator.start()
        self.pipeline_id = upload_example_pipeline(json.dumps(self.connection()))
        (self.home / "e2e-logs").mkdir(parents=True, exist_ok=True)
        env = subprocess_env(self.home, self.airflow_port, "")
        del env[f"AIRFLOW_CONN_{CONN_ID.upper()}"]  # tasks use the connection the UI shows and edits
        env.update(
            {
                "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                PIPELINE_ENV: self.pipeline_id,
            }
        )
        if self.major < 3:
            # Airflow 2 refuses LocalExecutor on SQLite; its webserver serves the UI.
            env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
                    "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                    "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(self.airflow_port),
                    "AIRFLOW__WEBSERVER__SECRET_KEY": env["AIRFLOW__API__SECRET_KEY"],
                    "AIRFLOW__WEBSERVER__WORKERS": "1",
                    "AIRFLOW__WEBSERVER__BASE_URL": self.url,
                }
            )
            (self.home / "webserver_config.py").write_text(AIRFLOW_2_WEBSERVER_CONFIG)
        airflow_bin = Path(sys.executable).parent / "airflow"
        self.deployment = dep = Deployment(self.home, env, self.airflow_port, airflow_bin)
        dep.run_cli("db", "migrate")
        conn_file = self.home / "connections.json"
        conn_file.write_text(json.dumps({CONN_ID: self.connection()}))
        dep.run_cli("connections", "import", "--overwrite", str(conn_file))
        for name in COMPONENTS if self.major >= 3 else AIRFLOW_2_COMPONENTS:
            dep.start(name)
        wait_for("Airflow to report healthy", self._healthy, START_TIMEOUT, diagnose=dep.diagnostics)

    def _healthy(self) -> bool:
        assert self.deployment is not None
        self.deployment.check_alive()
        path = "/api/v2/monitor/health" if self.major >= 3 else "/health"
        try:
            health = self.deployment.session.get(self.url + path, timeout=5).json()
        except (requests.RequestException, ValueError):
            return False
        parts = ("metadatabase", "scheduler", "triggerer") + (("dag_processor",) if self.major >= 3 else ())
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    def stop(self) -> None:
        if self.deployment is not None:
            self.deployment.stop_all()
        self.emulator.stop()


def main() -> int:
    port = port_or_free(int(os.environ.get("AIRFLOW_PORT", DEFAULT_AIRFLOW_PORT)))
    STATE_DIR.mkdir(exist_ok=True)
    print(f"Starting Airflow {metadata.version('apache-airflow')}, the emulator and the example pipeline...")
    started = time.monotonic()
    home = STATE_DIR / f"airflow-{metadata.version('apache-airflow')}"  # one home per version: configs differ
    local = LocalAirflow(home, port, port_or_free(DEFAULT_EMULATOR_PORT))
    with terminate_on_sigterm(), contextlib.suppress(KeyboardInterrupt), local:
        _print_ready(local, time.monotonic() - started)
        _watch(local)
    print("\nStopped Airflow and the emulator.")
    return 0


def _watch(local: LocalAirflow) -> None:
    """Until Ctrl-C; a component that dies ends the session with its log tail."""
    assert local.deployment is not None
    while True:
        local.deployment.check_alive()
        time.sleep(1)


def _print_ready(local: LocalAirflow, seconds: float) -> None:
    logs = local.home / "e2e-logs"
    print(
        f"""
Airflow is up after {seconds:.0f} s: {local.url}
  Login: none needed (local demo: every visitor is an admin).
  Emulator: {local.emulator.api_url} (token {TOKEN}); example pipeline {local.pipeline_id}, locked.
  Connection {CONN_ID!r} points at the emulator; Admin > Connections has its Test button.
  Example DAGs (tag "datarobot"): trigger one, open the task's "DataRobot pipeline run" link
  (Airflow 3: the task instance's Details tab; Airflow 2: the grid's Details panel).
  The pipeline also runs on a DataRobot schedule ({SCHEDULE_CRON}, on the emulator): on Airflow 3, unpause
  example_datarobot_pipeline_event_driven and it runs once for each scheduled run that completes.
  State: {local.home} (reused next time); component logs: {logs}
Press Ctrl-C to stop everything."""
    )


if __name__ == "__main__":
    sys.exit(main())
