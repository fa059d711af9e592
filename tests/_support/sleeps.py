"""Sleeps that cost no time: a fake clock for the sync clients and a recorder of a trigger's pauses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest


class FakeClock:
    """Stands in for the ``time`` module of a module under test: sleeping advances every clock, nothing waits."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    monotonic = perf_counter = time

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


class AsyncioWithSleep:
    """The ``asyncio`` module as one module sees it, with its own ``sleep``.

    Patching ``module.asyncio.sleep`` would patch ``asyncio.sleep`` for the whole process, and with it every
    event loop running in a background thread (the emulator's uvicorn would spin on a sleep that returns at once).
    """

    def __init__(self, sleep: Any) -> None:
        self.sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


def record_trigger_pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every pause the triggers' polling engine asks for (before the wake grid shortens it), in order; each
    returns at once."""
    from airflow_provider_drpipelines.triggers import base as trigger_base

    pauses: list[float] = []

    async def record(delay: float) -> None:
        pauses.append(delay)
        await asyncio.sleep(0)

    monkeypatch.setattr(trigger_base, "sleep_on_grid", record)
    return pauses
