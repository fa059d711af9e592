"""``make demo``: the example DAGs end to end on the local emulator, then a readable summary.

Starts the emulator on a free port, uploads and locks the example pipeline, points the connection at the
emulator (env var), runs each example DAG with ``airflow dags test``, prints what happened, and stops the
emulator whatever happens. Airflow state lives in ``.demo/`` (recreated on every run).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / ".demo"
HOME = DEMO / "airflow-home"
LOGS = DEMO / "logs"
TOKEN = "demo-token-0123456789"
PIPELINE_SOURCE = REPO / "example_dags" / "pipelines" / "score_customers.py"
DAG_IDS = (
    "example_datarobot_pipeline_run",
    "example_datarobot_pipeline_fan_out",
    "example_datarobot_pipeline_fire_and_watch",
    "example_datarobot_pipeline_lifecycle",
    "example_datarobot_pipeline_deploy_on_change",
)


def _configure_airflow() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    LOGS.mkdir(parents=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )


def _airflow(log_name: str, *args: str) -> tuple[int, float]:
    """Run one airflow CLI command, its output in .demo/logs/<log_name>.log; returns (exit code, seconds)."""
    started = time.monotonic()
    with open(LOGS / f"{log_name}.log", "w") as log:
        code = subprocess.call(["airflow", *args], stdout=log, stderr=subprocess.STDOUT)
    return code, time.monotonic() - started


def _seconds_between(start: Any, end: Any) -> str:
    if not start or not end:
        return "-"
    parse = lambda value: datetime.fromisoformat(str(value).replace("Z", "+00:00"))  # noqa: E731
    return f"{(parse(end) - parse(start)).total_seconds():.1f}s"


def _airflow_state(dag_id: str) -> tuple[str, list[tuple[str, str, str]], list[str]]:
    """The newest DAG run's state, its tasks (name, state, duration) and the pipeline run ids it pushed."""
    with sqlite3.connect(HOME / "airflow.db") as db:
        row = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        if row is None:
            return "not run", [], []
        run_id, state = row
        tasks = [
            (task_id if map_index < 0 else f"{task_id}[{map_index}]", str(ti_state), _seconds_between(start, end))
            for task_id, map_index, ti_state, start, end in db.execute(
                "SELECT task_id, map_index, state, start_date, end_date FROM task_instance "
                "WHERE dag_id = ? AND run_id = ? ORDER BY task_id, map_index",
                (dag_id, run_id),
            )
        ]
        pushed = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'run_id'", (dag_id, run_id)
        ).fetchall()
    return state, tasks, [str(json.loads(value)) for (value,) in pushed]


def main() -> int:
    _configure_airflow()
    from airflow_provider_drpipelines.emulator import EmulatorProcess

    with EmulatorProcess(token=TOKEN, run_seconds=3.0) as emulator:
        print(f"Emulator: {emulator.api_url}")
        os.environ["AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT"] = json.dumps(
            {"conn_type": "datarobot_pipelines", "host": emulator.base_url, "password": TOKEN}
        )
        from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

        hook = DataRobotPipelinesHook()
        pipeline = hook.create_pipeline(PIPELINE_SOURCE, description="make demo")
        version = hook.lock_pipeline(pipeline["id"])["version"]
        print(f"Pipeline {pipeline['name']!r} uploaded and locked: {pipeline['id']} version {version}")

        code, seconds = _airflow("db-migrate", "db", "migrate")
        if code != 0:
            print(f"airflow db migrate failed (exit {code}); see {LOGS / 'db-migrate.log'}")
            return 1
        print(f"Airflow database ready ({seconds:.0f}s). Running the example DAGs with `airflow dags test`...")
        outcomes = {}
        for dag_id in DAG_IDS:
            conf = json.dumps({"pipeline_id": pipeline["id"]})
            outcomes[dag_id] = _airflow(dag_id, "dags", "test", dag_id, "--conf", conf)
            print(f"  {dag_id}: exit {outcomes[dag_id][0]} in {outcomes[dag_id][1]:.0f}s")
        runs = {
            run["id"]: run
            for listed in hook.iterate(hook.list_pipelines)
            for run in hook.iterate(hook.list_runs, listed["id"], listed.get("latestVersion") or version)
        }
    return _print_summary(outcomes, runs)


def _print_summary(outcomes: dict[str, tuple[int, float]], runs: dict[str, dict[str, Any]]) -> int:
    print("\n=== Summary ===")
    failures = 0
    for dag_id, (code, seconds) in outcomes.items():
        state, tasks, run_ids = _airflow_state(dag_id)
        failures += state != "success" or code != 0
        print(f"\nDAG {dag_id}: {state.upper()} ({seconds:.0f}s)")
        for name, ti_state, duration in tasks:
            print(f"  task {name:<28} {ti_state:<10} {duration}")
        for run_id in run_ids:
            run = runs.get(run_id, {})
            duration = _seconds_between(run.get("createdAt"), run.get("updatedAt"))
            print(f"  pipeline run {run_id}  {run.get('status', '?'):<10} {duration}")
        if state != "success":
            print(f"  log: {LOGS / (dag_id + '.log')}")
    print(f"\n{len(outcomes) - failures} of {len(outcomes)} example DAGs succeeded. Logs in {LOGS}.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
