"""The poll-timing rules: adaptive delays and the shared wake-up grid of triggers."""

from __future__ import annotations

import math

import pytest

from airflow_provider_drpipelines.client.polling import WAKE_GRID, coalesced_delay, next_poll_delay


@pytest.mark.parametrize("now", [0.0, 1.3, 1000.01, 123456.789])
def test_coalesced_delay_lands_on_the_grid_never_late(now):
    delay = coalesced_delay(5.0, now)

    assert 5.0 - WAKE_GRID - 1e-9 < delay <= 5.0
    wake = (now + delay) / WAKE_GRID
    assert math.isclose(wake, round(wake), abs_tol=1e-6)


def test_triggers_due_within_one_grid_step_wake_together():
    wakes = {round(now + coalesced_delay(5.0, now), 6) for now in (100.01, 100.05, 100.12, 100.2)}

    assert wakes == {105.0}


def test_short_pauses_stay_short():
    assert 0.09 <= coalesced_delay(0.1, 7.003) <= 0.1  # a grid of a tenth of the pause, not WAKE_GRID
    assert coalesced_delay(0.0, 5.5) == 0.0
    assert coalesced_delay(-1.0, 5.5) == 0.0


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(0.0, 10.0), (50.0, 10.0), (200.0, 20.0), (10_000.0, 300.0)],
)
def test_next_poll_delay_is_adaptive_and_capped(elapsed, expected):
    assert next_poll_delay(10.0, 300.0, elapsed) == expected


def test_next_poll_delay_is_fixed_when_the_cap_is_the_interval_and_never_passes_a_deadline():
    assert next_poll_delay(5.0, 5.0, 10_000.0) == 5.0
    assert next_poll_delay(10.0, 300.0, 0.0, until_deadline=2.5) == 2.5
    assert next_poll_delay(10.0, 300.0, 0.0, until_deadline=-1.0) == 0.0
