"""Fixtures of the production-shaped suite: PostgreSQL, Redis, the emulator and Airflow with CeleryExecutor.

The deployment is the e2e suite's (tests/_support/deployment.py) with other commands and settings: the components
are separate ``airflow`` processes, two of them triggerers and one a Celery worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_drpipelines.emulator import EmulatorProcess
from tests._support.deployment import (
    COMMANDS,
    WATCHED_PIPELINE_ENV,
    Deployment,
    new_deployment,
    phase,
    running,
)
from tests._support.deployment_fixtures import connection_json, emulator

from . import services
from .fleet import DAGS, REPORT, Fleet, prod_settings

__all__ = ["connection_json", "emulator"]  # the shared fixtures, used here by name

# Airflow's components as a production deployment runs them: two triggerers (high availability) and a
# Celery worker; the api-server, scheduler and dag-processor as in the e2e suite.
PROD_COMMANDS = {
    **{name: COMMANDS[name] for name in ("api-server", "dag-processor", "scheduler")},
    "triggerer-a": COMMANDS["triggerer"],
    "triggerer-b": COMMANDS["triggerer"],
    "celery-worker": ("celery", "worker", "--concurrency", "8", "--skip-serve-logs"),
}
HEALTH_PARTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REPORT:
        terminalreporter.section("production-shaped deployment: report")
        for line in Fleet.report_table():
            terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with services.postgres() as url:
        yield url


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    with services.redis() as url:
        yield url


@pytest.fixture(scope="module")
def fleet(
    request: pytest.FixtureRequest,
    database_url: str,
    broker_url: str,
    emulator: EmulatorProcess,
    connection_json: str,
) -> Iterator[Fleet]:
    """The whole deployment, started in a fresh AIRFLOW_HOME on a fresh database; stopped whatever happens."""
    watched = Fleet.new_pipeline()  # before Airflow starts: prod_watched's DAG file reads its id
    settings = {**prod_settings(database_url, broker_url), WATCHED_PIPELINE_ENV: watched}
    dep = new_deployment("drpipelines-e2e-prod-home-", connection_json, settings, PROD_COMMANDS)
    fleet = Fleet(dep, emulator, database_url, broker_url, watched)

    def start() -> None:
        with phase("airflow db migrate"):
            dep.run_cli("db", "migrate", timeout=300)
        with phase("airflow components ready"):
            for name in ("api-server", "dag-processor", "scheduler", "celery-worker"):
                dep.start(name)
            fleet.start_triggerer("triggerer-a")
            fleet.start_triggerer("triggerer-b")
            dep.wait_until_ready(HEALTH_PARTS, DAGS)
            fleet.wait_worker_ready()

    with running(request, dep, start):
        try:
            yield fleet
        finally:
            fleet.close()


@pytest.fixture
def deployment(fleet: Fleet) -> Deployment:
    """The deployment itself (a failing test's report then carries the component logs)."""
    return fleet.dep
