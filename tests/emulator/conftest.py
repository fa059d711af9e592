"""One in-process emulator per test module, with fast runs (0.6 s), image builds and version tracing (0.3 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_drpipelines.emulator import EmulatorServer

from .client import Api

RUN_SECONDS = 0.6
IMAGE_SECONDS = 0.3
VERSION_SECONDS = 0.3


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(
        token="test-token", run_seconds=RUN_SECONDS, image_seconds=IMAGE_SECONDS, version_seconds=VERSION_SECONDS
    ) as server:
        yield server


@pytest.fixture
def api(emu: EmulatorServer) -> Api:
    """A client on a freshly reset emulator (no state, faults or logged requests from earlier tests)."""
    emu.reset()
    return Api(emu)
