"""Shared test setup: an isolated Airflow home, configured before anything imports airflow."""

from __future__ import annotations

import importlib.metadata
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

_TESTS_DIR = Path(__file__).resolve().parent
_DAGS_DIR = _TESTS_DIR / "dags"
_DAGS_DIR.mkdir(exist_ok=True)

if "PYTEST_XDIST_WORKER" in os.environ or "AIRFLOW_HOME" not in os.environ:
    # Each pytest-xdist worker gets its own home (and so its own SQLite database): they inherit the controller's.
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="drpipelines-airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(_DAGS_DIR))
# OpenLineage (when its provider is installed) writes events as JSON lines here; set before Airflow loads plugins.
OPENLINEAGE_EVENTS = Path(os.environ["AIRFLOW_HOME"]) / "openlineage-events.jsonl"
if "PYTEST_XDIST_WORKER" in os.environ or "AIRFLOW__OPENLINEAGE__TRANSPORT" not in os.environ:
    os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
        {"type": "file", "log_file_path": str(OPENLINEAGE_EVENTS), "append": True}
    )
if int(importlib.metadata.version("apache-airflow").split(".")[0]) < 3:
    # Airflow 2 defaults to LocalExecutor, which refuses the SQLite test database; 3.x has no such check.
    os.environ.setdefault("AIRFLOW__CORE__EXECUTOR", "SequentialExecutor")

CONN_TYPE = "datarobot_pipelines"
DEFAULT_CONN_ID = "datarobot_pipelines_default"


@pytest.fixture
def conn_env(monkeypatch: pytest.MonkeyPatch):
    """Factory defining a ``datarobot_pipelines`` connection through ``AIRFLOW_CONN_<ID>`` (JSON); returns the id."""

    def define(
        conn_id: str = DEFAULT_CONN_ID,
        *,
        host: str | None = "https://app.datarobot.com",
        password: str | None = "test-token-0123456789",
        port: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        conn: dict[str, Any] = {"conn_type": CONN_TYPE}
        if host is not None:
            conn["host"] = host
        if password is not None:
            conn["password"] = password
        if port is not None:
            conn["port"] = port
        if extra:
            conn["extra"] = extra
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return define


# --- real-deployment suites (tests/e2e, tests/e2e_prod) ----------------------------------------------------
def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests._support.deployment import TIMINGS

    if TIMINGS:
        terminalreporter.section("e2e timings")
        for line in TIMINGS:
            terminalreporter.write_line(line)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On a failing test that uses a real deployment, attach the tails of the component logs to the report."""
    report = yield
    if report.failed:
        from tests._support.deployment import Deployment

        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Deployment):
                report.sections.append(("airflow component logs", value.diagnostics(40)))
    return report
