"""Fixtures of the e2e suite: the emulator, the example pipeline and a real Airflow deployment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests._support.deployment import (
    COMPONENTS,
    DAG_ID,
    EVENT_DAG_ID,
    HEALTH_PARTS,
    PIPELINE_SOURCE,
    WATCHED_PIPELINE_ENV,
    Deployment,
    new_deployment,
    phase,
    running,
)
from tests._support.deployment_fixtures import connection_json, emulator

__all__ = ["connection_json", "emulator"]  # the shared fixtures, used here by name


def _locked_pipeline() -> str:
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

    hook = DataRobotPipelinesHook()
    created = hook.create_pipeline(PIPELINE_SOURCE)
    hook.lock_pipeline(created["id"])
    return str(created["id"])


@pytest.fixture(scope="module")
def pipeline_id(connection_json: str) -> str:
    """The example pipeline, uploaded and locked (version 1)."""
    return _locked_pipeline()


@pytest.fixture(scope="module")
def watched_pipeline_id(connection_json: str) -> str:
    """A pipeline of its own for the asset watcher of ``e2e_event_driven`` (tests/e2e/dags): uploaded before
    Airflow starts, as the DAG file reads its id; only the watcher tests start its runs."""
    return _locked_pipeline()


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest, connection_json: str, watched_pipeline_id: str) -> Iterator[Deployment]:
    """Airflow's four components on SQLite + LocalExecutor, in a fresh AIRFLOW_HOME; stopped whatever happens."""
    dep = new_deployment("drpipelines-e2e-home-", connection_json, {WATCHED_PIPELINE_ENV: watched_pipeline_id})

    def start() -> None:
        with phase("airflow db migrate"):
            dep.run_cli("db", "migrate")
        with phase("airflow components ready"):
            for name in COMPONENTS:
                dep.start(name)
            dep.wait_until_ready(HEALTH_PARTS, (DAG_ID, EVENT_DAG_ID))

    with running(request, dep, start):
        yield dep
