"""Triggers that deferred tasks stored before the role folders (issue 22) still load and serialize the same."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from airflow.triggers.base import BaseTrigger

FIXTURE = Path(__file__).parent / "fixtures" / "serialized_before_the_move.json"
STORED: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["triggers"]


@pytest.mark.parametrize("row", STORED, ids=[row["classpath"].rsplit(".", 1)[1] for row in STORED])
def test_a_row_stored_before_the_move_loads_and_serializes_to_the_same_row(row: dict[str, Any]) -> None:
    module, name = row["classpath"].rsplit(".", 1)
    trigger_class = getattr(importlib.import_module(module), name)  # what the triggerer does with a stored row

    trigger = trigger_class(**row["kwargs"])

    assert isinstance(trigger, BaseTrigger)
    assert trigger.serialize() == (row["classpath"], row["kwargs"])
