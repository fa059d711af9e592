"""The fixtures the real-deployment suites (tests/e2e, tests/e2e_prod) share: the emulator and its connection.

A suite's conftest imports them by name; each stays module-scoped there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_drpipelines.emulator import EmulatorProcess
from tests._support.deployment import TOKEN, emulator_process


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with emulator_process(run_seconds=3.0) as emu:
        yield emu


@pytest.fixture(scope="module")
def connection_json(emulator: EmulatorProcess) -> Iterator[str]:
    """The connection for the deployment, also set in this process (the hook uploads the pipelines)."""
    conn = json.dumps({"conn_type": "datarobot_pipelines", "host": emulator.base_url, "password": TOKEN})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT", conn)
        yield conn
