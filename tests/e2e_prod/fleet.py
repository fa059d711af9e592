"""What the production-shaped scenarios drive and read: Airflow's REST API and metadata database, the Celery
worker, the triggerers' jobs, the emulator's records, the components' CPU, and the closing report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_drpipelines.emulator import EmulatorProcess
from airflow_provider_drpipelines.triggers.event import CLASSPATH as EVENT_TRIGGER
from tests._support.deployment import PIPELINE_SOURCE, Deployment, start_run_outside_airflow, wait_for

PROD_DAGS = Path(__file__).resolve().parent / "dags"
FANOUT = "prod_fanout"
WORKER_WAIT = "prod_worker_wait"
WATCHED = "prod_watched"
DAGS = (FANOUT, WORKER_WAIT, WATCHED)
#: The asset of ``prod_watched``, whose watcher is the event trigger (tests/e2e_prod/dags/prod_dags.py).
WATCHED_ASSET = "datarobot://e2e-prod/watched_runs"
TASK_ID = "run"
ACTIVE_RUN = {"PENDING", "PREPARING", "RUNNING"}
FAILED_TI = {"failed", "upstream_failed"}
UNFINISHED_TI = {"scheduled", "queued", "running", "deferred", "up_for_retry", "up_for_reschedule", "restarting"}
TRIGGERER_HEALTH_THRESHOLD = 20  # seconds without a heartbeat before a triggerer's triggers go to another one
TI_HEARTBEAT_TIMEOUT = 30  # seconds without a heartbeat before the scheduler fails (and retries) a running task


def prod_settings(database_url: str, broker_url: str) -> dict[str, str]:
    """Airflow's settings for CeleryExecutor on PostgreSQL and Redis (on top of the e2e suite's)."""
    return {
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROD_DAGS),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": "32",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url,
        "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_THRESHOLD),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TI_HEARTBEAT_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    }


# --- the report ----------------------------------------------------------------------------------------------
@dataclass
class Row:
    scenario: str
    bound: str
    measured: str
    passed: bool


REPORT: list[Row] = []


@dataclass
class Check:
    """One scenario's report row, filled in as it runs: failed unless the scenario reaches ``passed()``."""

    scenario: str
    bound: str
    measured: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.row = Row(self.scenario, self.bound, "", False)
        REPORT.append(self.row)

    def note(self, text: str) -> None:
        self.measured.append(text)
        self.row.measured = "; ".join(self.measured)

    def passed(self) -> None:
        self.row.passed = True


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


# --- records ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """A task instance of the scenario's dag run (``slot`` is its map index, -1 when unmapped)."""

    slot: int
    state: str | None
    try_number: int
    start_date: datetime | None
    end_date: datetime | None
    triggerer_id: int | None


@dataclass(frozen=True)
class Run:
    """A run in the emulator, traced to its task through its input's payload."""

    run_id: str
    status: str
    dag_run: str
    slot: int
    ended_at: datetime | None  # when it reached a terminal status


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Fleet:
    """The deployment plus the services it runs on, as the scenarios see it."""

    def __init__(
        self, dep: Deployment, emulator: EmulatorProcess, database_url: str, broker_url: str, watched: str
    ) -> None:
        self.dep = dep
        self.watched_pipeline_id = watched  # the pipeline prod_watched's asset watcher follows
        self.emulator = emulator
        self.database_url = database_url.replace("postgresql+psycopg2://", "postgresql://")
        self.broker_url = broker_url
        self.triggerer_jobs: dict[str, int] = {}  # component name -> its TriggererJob id
        self._db: Any = None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # metadata database (read only)
    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg2

        if self._db is None or self._db.closed:
            self._db = psycopg2.connect(self.database_url)
            self._db.autocommit = True
        with self._db.cursor() as cursor:
            cursor.execute(query, params)
            return list(cursor.fetchall())

    def tasks(self, dag_id: str, dag_run_id: str) -> dict[int, Task]:
        rows = self.sql(
            """SELECT ti.map_index, ti.state, ti.try_number, ti.start_date, ti.end_date, t.triggerer_id
               FROM task_instance ti LEFT JOIN trigger t ON t.id = ti.trigger_id
               WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.task_id = %s""",
            dag_id,
            dag_run_id,
            TASK_ID,
        )
        return {row[0]: Task(*row) for row in rows}

    def fired_run_ids(self) -> list[str]:
        """The run id of every asset event of the watched asset, oldest first."""
        rows = self.sql(
            """SELECT ae.extra FROM asset_event ae JOIN asset a ON a.id = ae.asset_id
               WHERE a.uri = %s ORDER BY ae.id""",
            WATCHED_ASSET,
        )
        return [str(row[0]["payload"]["run_id"]) for row in rows]

    def watcher_triggerer(self) -> int | None:
        """The triggerer job holding the asset watcher, None while no triggerer has taken it."""
        rows = self.sql("SELECT triggerer_id FROM trigger WHERE classpath = %s", EVENT_TRIGGER)
        return rows[0][0] if rows else None

    def running_triggerer_jobs(self) -> set[int]:
        rows = self.sql("SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running'")
        return {row[0] for row in rows}

    # components
    def start_triggerer(self, name: str) -> int:
        """Start a triggerer and wait for its job (its identity in the ``trigger`` table)."""
        known = self.running_triggerer_jobs()
        self.dep.start(name)

        def new_job() -> int | None:
            self.dep.check_alive()
            fresh = self.running_triggerer_jobs() - known - set(self.triggerer_jobs.values())
            return min(fresh) if fresh else None

        job = wait_for(f"{name}'s triggerer job", new_job, 120, diagnose=self.dep.diagnostics)
        self.triggerer_jobs[name] = job
        return job

    def kill(self, name: str) -> None:
        """SIGKILL a component with everything it spawned."""
        self.dep.kill(name)
        self.triggerer_jobs.pop(name, None)

    @contextlib.contextmanager
    def paused(self, name: str) -> Iterator[None]:
        """SIGSTOP a component's main process (not its children) for the block, as if it were stalled."""
        pid = self.dep.components[name].process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def wait_worker_ready(self) -> None:
        """Wait until a Celery worker answers a ping through the broker."""
        from celery import Celery

        app = Celery(broker=self.broker_url)
        try:

            def pong() -> bool:
                self.dep.check_alive()
                return bool(app.control.ping(timeout=1.0))

            wait_for("the Celery worker to answer a ping", pong, 120, diagnose=self.dep.diagnostics)
        finally:
            app.close()

    def cpu_seconds(self, name: str) -> float:
        """User + system CPU of a component's process tree (exited children included once waited for)."""
        import psutil

        root = psutil.Process(self.dep.components[name].process.pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system + times.children_user + times.children_system
        return total

    # REST API
    def trigger(self, dag_id: str, pipeline_id: str, label: str, **conf: Any) -> str:
        return self.dep.trigger({"pipeline_id": pipeline_id, **conf}, label, dag_id=dag_id)

    def clear(self, dag_run_id: str, slots: Iterable[int]) -> None:
        body = {
            "dry_run": False,
            "dag_run_id": dag_run_id,
            "task_ids": [[TASK_ID, slot] for slot in slots],
            "only_failed": False,
        }
        self.dep.api("POST", f"/dags/{FANOUT}/clearTaskInstances", json=body)

    def mark_failed(self, dag_run_id: str, slot: int, expect: tuple[int, ...] = (200,)) -> None:
        path = f"/dags/{FANOUT}/dagRuns/{dag_run_id}/taskInstances/{TASK_ID}/{slot}"
        self.dep.api("PATCH", path, json={"new_state": "failed"}, expect=expect)

    def wait_tasks(
        self,
        dag_id: str,
        dag_run_id: str,
        count: int,
        done: Callable[[dict[int, Task]], bool],
        what: str,
        timeout: float,
        on_poll: Callable[[dict[int, Task]], None] | None = None,
        allow_failed: bool = False,
    ) -> dict[int, Task]:
        """Poll the dag run's tasks until ``done``; fail at once when one fails, unless ``allow_failed``."""

        def probe() -> dict[int, Task] | None:
            self.dep.check_alive()
            tasks = self.tasks(dag_id, dag_run_id)
            if on_poll is not None:
                on_poll(tasks)
            failed = {slot: t.state for slot, t in tasks.items() if t.state in FAILED_TI}
            if failed and not allow_failed:
                pytest.fail(f"tasks of {dag_run_id} failed: {failed}{self.dep.diagnostics()}")
            return tasks if len(tasks) == count and done(tasks) else None

        return wait_for(f"{dag_run_id}: {what}", probe, timeout, 1.0, self.dep.diagnostics)

    def wait_deferred(self, dag_run_id: str, count: int, timeout: float = 240) -> dict[int, Task]:
        """Until every task of the fan-out is deferred and its trigger is held by a triggerer."""
        return self.wait_tasks(
            FANOUT,
            dag_run_id,
            count,
            lambda tasks: all(t.state == "deferred" and t.triggerer_id is not None for t in tasks.values()),
            "every task deferred and its trigger held",
            timeout,
        )

    # emulator records
    @staticmethod
    def new_pipeline() -> str:
        """A fresh locked pipeline (each scenario has its own, so its runs are exactly its tasks' runs)."""
        from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

        hook = DataRobotPipelinesHook()
        created = hook.create_pipeline(PIPELINE_SOURCE)
        hook.lock_pipeline(created["id"])
        return str(created["id"])

    @staticmethod
    def pipelines() -> list[str]:
        """Every pipeline in the emulator."""
        from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

        hook = DataRobotPipelinesHook(retry_delay=0.1)
        return [str(item["id"]) for item in hook.iterate(hook.list_pipelines)]

    @staticmethod
    def runs(pipeline_id: str) -> list[Run]:
        from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

        hook = DataRobotPipelinesHook(retry_delay=0.1)
        inputs = {item["id"]: item["payload"] for item in hook.iterate(hook.list_inputs, pipeline_id, 1)}
        runs = []
        for item in hook.iterate(hook.list_runs, pipeline_id, 1, page_size=500):
            payload = inputs[item["inputId"]]
            ended = None if item["status"] in ACTIVE_RUN else _timestamp(item["updatedAt"])
            runs.append(Run(item["id"], item["status"], payload["dag_run"], int(payload["slot"]), ended))
        return runs

    @staticmethod
    def start_outside_airflow(pipeline_id: str, seconds: float) -> str:
        """A run no task follows; its payload names no dag run, as :meth:`runs` reads every payload's."""
        payload = {"dag_run": "outside-airflow", "slot": -1, "_emulator": {"seconds": seconds}}
        return start_run_outside_airflow(pipeline_id, payload)

    def cancels(self, pipeline_id: str) -> int:
        """Cancel requests (DELETE of a run) the emulator received for the pipeline."""
        return len(self.emulator.request_log(path=f"/pipelines/{pipeline_id}/.*/dispatches/", method="DELETE"))

    def runs_per_slot(self, pipeline_id: str) -> dict[int, list[Run]]:
        per_slot: dict[int, list[Run]] = {}
        for run in self.runs(pipeline_id):
            per_slot.setdefault(run.slot, []).append(run)
        return per_slot

    def wait_run_status(self, pipeline_id: str, run_ids: set[str], status: str, timeout: float) -> float:
        """Seconds until every run of ``run_ids`` has ``status``."""
        started = time.monotonic()

        def reached() -> bool:
            return all(run.status == status for run in self.runs(pipeline_id) if run.run_id in run_ids)

        wait_for(f"runs {sorted(run_ids)} to be {status}", reached, timeout, 0.25, self.dep.diagnostics)
        return time.monotonic() - started

    @staticmethod
    def report_table() -> list[str]:
        headers = ("scenario", "bound", "measured", "result")
        rows = [(r.scenario, r.bound, r.measured, "pass" if r.passed else "FAIL") for r in REPORT]
        widths = [max(len(str(cells[i])) for cells in [headers, *rows]) for i in range(3)]
        lines = [
            " | ".join(str(cell).ljust(width) for cell, width in zip(cells, [*widths, 0], strict=True))
            for cells in [headers, *rows]
        ]
        lines.insert(1, "-+-".join("-" * w for w in [*widths, 6]))
        return lines


def summary(values: list[float]) -> str:
    return f"p50 {statistics.median(values):.1f}s, p99 {percentile(values, 0.99):.1f}s, max {max(values):.1f}s"
