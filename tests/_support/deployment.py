"""A real Airflow >= 3.3 deployment (api-server, scheduler, dag-processor, triggerer) and the emulator.

The e2e and e2e_prod suites, the ui suite and ``make airflow`` (scripts/local_airflow.py) start theirs with it.

The components run as separate ``airflow <component>`` processes rather than ``airflow standalone``: the
restart test then stops and starts exactly one process (the triggerer) instead of hunting for a child of
standalone, and every component has its own log file to show when a test fails.

Every process starts in its own session (process group). Teardown — the fixture finalizer, an ``atexit``
hook and a SIGTERM handler for the pytest process — sends SIGTERM to each group, then SIGKILL, and finally
kills any process still carrying this deployment's ``AIRFLOW_HOME`` in its environment (task supervisors,
executor workers that left their group).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import pytest
import requests

from airflow_provider_drpipelines.emulator import EmulatorProcess

REPO = Path(__file__).resolve().parents[2]
E2E_DAGS = REPO / "tests" / "e2e" / "dags"
PIPELINE_SOURCE = REPO / "example_dags" / "pipelines" / "score_customers.py"
TOKEN = "e2e-secret-token-0123456789"
DAG_ID = "e2e_deferrable_run"
#: The e2e suite's DAG scheduled on an asset watched by the event trigger (tests/e2e/dags/e2e_event_driven.py).
EVENT_DAG_ID = "e2e_event_driven"
#: The variable naming the pipeline the deployments' asset watchers follow (their DAG files read it by name).
WATCHED_PIPELINE_ENV = "DRPIPELINES_E2E_WATCHED_PIPELINE_ID"
TASK_ID = "run"
COMPONENTS = ("api-server", "dag-processor", "scheduler", "triggerer")
# The command line of each component name a deployment can start (the api-server also gets --port).
COMMANDS: dict[str, tuple[str, ...]] = {
    "api-server": ("api-server", "--host", "127.0.0.1", "--workers", "1"),
    "scheduler": ("scheduler", "--skip-serve-logs"),
    "triggerer": ("triggerer", "--skip-serve-logs"),
    "dag-processor": ("dag-processor",),
    "webserver": ("webserver", "--hostname", "127.0.0.1", "--workers", "1"),
}
HEALTH_PARTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
START_TIMEOUT = 180.0
STOP_GRACE = 20.0
COMPONENT_MARKER = "DRPIPELINES_E2E_COMPONENT"
T = TypeVar("T")


# --- version gate ---------------------------------------------------------------------------------------
def _airflow_version() -> tuple[int, ...] | None:
    for dist in ("apache-airflow-core", "apache-airflow"):
        try:
            raw = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        parts = []
        for piece in raw.split(".")[:3]:
            digits = "".join(ch for ch in piece if ch.isdigit())
            parts.append(int(digits or 0))
        return tuple(parts)
    return None


AIRFLOW_VERSION = _airflow_version()
NEEDS_AIRFLOW_3_3 = pytest.mark.skipif(
    AIRFLOW_VERSION is None or AIRFLOW_VERSION < (3, 3),
    reason=f"the e2e suite needs Airflow >= 3.3 (trigger on_kill); installed: {AIRFLOW_VERSION}",
)


# --- timing -----------------------------------------------------------------------------------------------
TIMINGS: list[str] = []


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Time a phase; the line is printed (shown with a failing test) and listed in the terminal summary."""
    started = time.monotonic()
    outcome = "failed"
    try:
        yield
        outcome = "ok"
    finally:
        line = f"[e2e] {name}: {time.monotonic() - started:.1f}s ({outcome})"
        TIMINGS.append(line)
        print(line, flush=True)


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5, diagnose: Callable[[], str] = str
) -> T:
    """Call ``probe`` until it returns something truthy; fail with ``what`` (and diagnostics) on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what} (last value: {last!r}){diagnose()}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- processes ----------------------------------------------------------------------------------------------
def _processes_with_env(marker: str) -> list[int]:
    """Pids of this user's processes whose environment contains ``marker`` (e.g. ``AIRFLOW_HOME=...``)."""
    needle = marker.encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes() + b"\0":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _wait_exit(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


@dataclass
class Component:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Deployment:
    """The Airflow processes, their environment, and a REST client for the api-server."""

    home: Path
    env: dict[str, str]
    api_port: int
    airflow_bin: Path
    commands: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(COMMANDS))
    components: dict[str, Component] = field(default_factory=dict)
    _starts: dict[str, int] = field(default_factory=dict)
    _stopped: bool = False

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: never through a proxy from the environment
        self.base_url = f"http://127.0.0.1:{self.api_port}"

    # processes
    def run_cli(self, *args: str, timeout: float = 180.0) -> None:
        log = self.home / "e2e-logs" / f"cli-{args[0]}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [str(self.airflow_bin), *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
                raise RuntimeError(f"`airflow {' '.join(args)}` took over {timeout:g}s:\n{self.tail(log)}") from None
        if code != 0:
            raise RuntimeError(f"`airflow {' '.join(args)}` exited {code}:\n{self.tail(log)}")

    def start(self, name: str) -> Component:
        count = self._starts[name] = self._starts.get(name, 0) + 1
        log_path = self.home / "e2e-logs" / f"{name}-{count}.log"
        args = list(self.commands[name])
        if args[0] in ("api-server", "webserver"):  # webserver: Airflow 2's UI (make airflow, the ui suite on 2.11)
            args += ["--port", str(self.api_port)]
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [str(self.airflow_bin), *args],
                # the marker names this start of the component in its children too (see kill())
                env={**self.env, COMPONENT_MARKER: f"{name}-{count}"},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        self.components[name] = component = Component(name, process, log_path)
        return component

    def stop(self, name: str, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM the component's process group (as a rolling restart does), SIGKILL after ``grace``."""
        component = self.components.pop(name, None)
        if component is None:
            return None
        process = component.process
        _signal_group(process.pid, signal.SIGTERM)
        if not _wait_exit(process, grace):
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        # children that outlived their leader in the group
        _signal_group(process.pid, signal.SIGKILL)
        return process.returncode

    def kill(self, name: str) -> None:
        """SIGKILL the component and every process it spawned (a crash: no cleanup runs anywhere)."""
        component = self.components.pop(name)
        _signal_group(component.process.pid, signal.SIGKILL)
        component.process.wait()
        marker = f"{COMPONENT_MARKER}={component.log_path.stem}"
        for pid in _processes_with_env(marker):  # children that left the group (e.g. task processes)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def stop_all(self) -> str:
        """Stop every component (SIGTERM to all groups, SIGKILL after the grace) and any stray; a summary."""
        if self._stopped:
            return "already stopped"
        self._stopped = True
        started = time.monotonic()
        for name in reversed(list(self.components)):
            _signal_group(self.components[name].process.pid, signal.SIGTERM)
        exited: dict[str, str] = {}
        while len(exited) < len(self.components) and time.monotonic() < started + STOP_GRACE:
            for name, component in self.components.items():
                if name not in exited and component.process.poll() is not None:
                    exited[name] = f"{name} exited after {time.monotonic() - started:.1f}s"
            time.sleep(0.1)
        for name, component in self.components.items():
            if component.process.poll() is None:
                _signal_group(component.process.pid, signal.SIGKILL)
                component.process.wait()
                exited[name] = f"{name} KILLED after {STOP_GRACE:g}s"
            exited.setdefault(name, f"{name} exited after {time.monotonic() - started:.1f}s")
            _signal_group(component.process.pid, signal.SIGKILL)  # members that outlived the leader
        self.components.clear()
        strays = self.kill_strays()
        self.session.close()
        return ", ".join([*exited.values(), f"{len(strays)} strays killed"])

    def kill_strays(self) -> list[int]:
        """SIGKILL any process left with this deployment's AIRFLOW_HOME (it is a fresh temp dir: only ours)."""
        strays = _processes_with_env(f"AIRFLOW_HOME={self.home}")
        for pid in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        return strays

    def check_alive(self) -> None:
        for component in self.components.values():
            code = component.process.poll()
            if code is not None:
                pytest.fail(f"airflow {component.name} exited with {code}:\n{self.tail(component.log_path)}")

    @staticmethod
    def tail(path: Path, lines: int = 40) -> str:
        try:
            text = path.read_text(errors="replace").splitlines()
        except OSError:
            return f"({path} unreadable)"
        return "\n".join(text[-lines:])

    def diagnostics(self, lines: int = 30) -> str:
        logs = sorted((self.home / "e2e-logs").glob("*.log"))
        return "".join(f"\n--- {log.name} (last {lines} lines) ---\n{self.tail(log, lines)}" for log in logs)

    def wait_until_ready(self, parts: tuple[str, ...], dag_ids: tuple[str, ...]) -> None:
        """Wait until the api-server reports ``parts`` healthy and every DAG of ``dag_ids`` is parsed, unpaused."""

        def healthy() -> bool:
            self.check_alive()
            try:
                health = self.get_or_none("/monitor/health")
            except requests.ConnectionError:
                return False
            return bool(health) and all(health.get(part, {}).get("status") == "healthy" for part in parts)

        wait_for("the components to report healthy", healthy, START_TIMEOUT, diagnose=self.diagnostics)
        for dag_id in dag_ids:

            def dag_parsed(dag_id: str = dag_id) -> bool:
                self.check_alive()
                dag = self.get_or_none(f"/dags/{dag_id}")
                return bool(dag) and not dag.get("is_paused", True)

            wait_for(f"DAG {dag_id} to be parsed", dag_parsed, START_TIMEOUT, diagnose=self.diagnostics)

    # REST API (the simple auth manager with all_admins adds the token itself: no credentials needed)
    def api(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=30, **kwargs)
        if response.status_code not in expect:
            raise AssertionError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def get_or_none(self, path: str) -> Any:
        response = self.session.get(f"{self.base_url}/api/v2{path}", timeout=30)
        return response.json() if response.status_code == 200 else None

    def trigger(self, conf: dict[str, Any], label: str, dag_id: str = DAG_ID) -> str:
        dag_run_id = f"e2e_{label}_{int(time.time() * 1000)}"
        body = {"dag_run_id": dag_run_id, "logical_date": None, "conf": conf}
        self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)
        return dag_run_id

    def ti_path(self, dag_run_id: str, dag_id: str = DAG_ID) -> str:
        return f"/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{TASK_ID}"

    def task_instance(self, dag_run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api("GET", self.ti_path(dag_run_id))
        return result

    def ti_state(self, dag_run_id: str) -> str | None:
        """The task's state; None while the task instance does not exist yet or has no state."""
        ti = self.get_or_none(self.ti_path(dag_run_id))
        return None if ti is None else ti.get("state")

    def xcom(self, dag_run_id: str, key: str, dag_id: str = DAG_ID) -> Any:
        """An XCom value of the task, or None while absent (values are JSON in Airflow 3)."""
        entry = self.get_or_none(f"{self.ti_path(dag_run_id, dag_id)}/xcomEntries/{key}")
        return None if entry is None else entry.get("value")

    def hit_executor_race(self, dag_run_id: str) -> bool:
        """Whether Airflow's scheduler failed this run's task on a stale executor event, not on the task itself.

        LocalExecutor reports the deferral workload's exit as "success" a moment later; if the task was already
        re-queued by then, the scheduler marks it failed ("finished with state success, but the task instance's
        state attribute is queued"). An Airflow race, seen about once in ten suite runs. After a clear, the
        same race starts the next try twice: the second start is refused ("not in a state where it could be
        marked as running"), a line that names the task instance's id, not the dag run.
        """
        queued = "but the task instance's state attribute is queued"
        refused = "not in a state where it could be marked as running"
        return any(
            (queued in line and dag_run_id in line) or refused in line
            for log in (self.home / "e2e-logs").glob("*.log")
            for line in log.read_text(errors="replace").splitlines()
        )

    def wait_state(self, dag_run_id: str, states: set[str], timeout: float, fail_on: set[str] = frozenset()) -> str:
        def probe() -> str | None:
            self.check_alive()
            state = self.ti_state(dag_run_id)
            if state in fail_on:
                pytest.fail(f"task of {dag_run_id} went {state} while waiting for {states}{self.diagnostics()}")
            return state if state in states else None

        return wait_for(f"{dag_run_id} task in {sorted(states)}", probe, timeout, diagnose=self.diagnostics)


def start_run_outside_airflow(pipeline_id: str, payload: dict[str, Any]) -> str:
    """A run of version 1 started through the API, as DataRobot's UI or another team's code would: no Airflow
    task knows it. The connection is this process's ``AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT``."""
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

    hook = DataRobotPipelinesHook(retry_delay=0.1)
    input_id = hook.create_input(pipeline_id, payload, version=1)["id"]
    return str(hook.create_run(pipeline_id, input_id, version=1)["id"])


def subprocess_env(home: Path, api_port: int, conn: str) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY", env.get("no_proxy")), "127.0.0.1", "localhost"]))
    api_url = f"http://127.0.0.1:{api_port}"
    env.update(
        {
            "PATH": os.pathsep.join([bin_dir, env.get("PATH", "")]),  # components spawn `airflow ...` via PATH
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(E2E_DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "30",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT": conn,
        }
    )
    return env


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Treat SIGTERM of the pytest process like Ctrl-C: pytest stops and its finalizers stop the deployment."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def running(request: pytest.FixtureRequest, dep: Deployment, start: Callable[[], None]) -> Iterator[Deployment]:
    """Start ``dep`` with ``start``, yield it, and stop every process it started whatever happens.

    Teardown also runs from an ``atexit`` hook and on SIGTERM of pytest. When starting or a test fails, the
    components' log tails are printed and AIRFLOW_HOME is kept (as with ``DRPIPELINES_E2E_KEEP_HOME``).
    """
    atexit.register(dep.stop_all)
    keep_home = False
    failed_before = request.session.testsfailed
    with terminate_on_sigterm():
        try:
            start()
            yield dep
        except BaseException:
            keep_home = True
            print(dep.diagnostics(60), flush=True)
            raise
        finally:
            with phase("airflow components stop"):
                stopped = f"[e2e] stop: {dep.stop_all()}"
            TIMINGS.append(stopped)
            print(stopped, flush=True)
            atexit.unregister(dep.stop_all)
            keep_home = keep_home or request.session.testsfailed > failed_before
            if keep_home or os.environ.get("DRPIPELINES_E2E_KEEP_HOME"):
                TIMINGS.append(f"[e2e] kept AIRFLOW_HOME {dep.home} (component logs in e2e-logs/, task logs in logs/)")
                print(TIMINGS[-1], flush=True)
            else:
                shutil.rmtree(dep.home, ignore_errors=True)


@contextlib.contextmanager
def emulator_process(run_seconds: float) -> Iterator[EmulatorProcess]:
    """The emulator in its own process, stopped at the end (and at exit)."""
    emu = EmulatorProcess(token=TOKEN, run_seconds=run_seconds)
    atexit.register(emu.stop)
    with phase("emulator start"):
        emu.start()
    try:
        yield emu
    finally:
        emu.stop()
        atexit.unregister(emu.stop)


def new_deployment(
    home_prefix: str,
    conn: str,
    settings: Mapping[str, str] | None = None,
    commands: Mapping[str, tuple[str, ...]] = COMMANDS,
) -> Deployment:
    """A deployment (not started) in a fresh AIRFLOW_HOME on a free port; ``settings`` override the e2e environment."""
    airflow_bin = airflow_executable()
    home = new_home(home_prefix)
    api_port = free_port()
    env = subprocess_env(home, api_port, conn)
    env.update(settings or {})
    return Deployment(home, env, api_port, airflow_bin, commands=dict(commands))


def new_home(prefix: str) -> Path:
    """A fresh AIRFLOW_HOME with the directory the component logs go to."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    (home / "e2e-logs").mkdir()
    return home


def airflow_executable() -> Path:
    """The venv's ``airflow`` (the components are started with it); skips when there is none."""
    airflow_bin = Path(sys.executable).parent / "airflow"
    if not airflow_bin.exists():
        pytest.skip(f"no airflow executable next to {sys.executable}")
    return airflow_bin
