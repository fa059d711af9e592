"""One in-process emulator per test module, on a frozen clock: time moves only when a test advances it.

Runs last 0.6 s, image builds and version tracing 0.3 s, of that clock; no test sleeps for them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_drpipelines.emulator import Clock, EmulatorConfig, EmulatorServer

from .client import Api

RUN_SECONDS = 0.6
IMAGE_SECONDS = 0.3
VERSION_SECONDS = 0.3
#: 2026-01-01T00:00:00Z: where the emulator's frozen clock starts.
FROZEN_AT = 1_767_225_600.0


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        token="test-token",
        run_seconds=RUN_SECONDS,
        image_seconds=IMAGE_SECONDS,
        version_seconds=VERSION_SECONDS,
        clock=Clock(frozen_at=FROZEN_AT),
    )
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture
def api(emu: EmulatorServer) -> Api:
    """A client on a freshly reset emulator (no state, faults or logged requests from earlier tests)."""
    emu.reset()
    return Api(emu)
