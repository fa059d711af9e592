"""Static parsing of pipeline files: never imported, only read with ``ast``."""

from __future__ import annotations

import pytest

from airflow_provider_drpipelines.emulator.source import SourceError, parse_pipeline

FLOW = """
import covalent as ct
from datarobot import pipeline, task

@task
def extract(path: str, limit: int = 10) -> list[int]:
    return [1, 2]

@ct.electron(executor="local")
def transform(rows: list[int], *, scale: float) -> list[int]:
    return rows

def helper():
    return 1

@pipeline
def nightly_scoring(path: str):
    rows = extract(path)
    return transform(rows, scale=helper())

raise SystemExit("this file must never be executed")
"""


def test_finds_pipeline_tasks_graph_and_never_executes() -> None:
    parsed = parse_pipeline(FLOW, "flow.py")
    assert parsed.function_name == "nightly_scoring"
    assert parsed.default_name == "Nightly Scoring"
    assert parsed.task_names == ["extract", "transform"]
    extract, transform = parsed.tasks
    assert (extract.id, transform.id) == (1, 2)
    assert [(p.name, p.annotation) for p in extract.parameters] == [("path", "str"), ("limit", "int")]
    assert [(p.name, p.annotation) for p in transform.parameters] == [("rows", "list[int]"), ("scale", "float")]
    assert transform.source.startswith('@ct.electron(executor="local")\ndef transform(')
    assert [(n.id, n.task.name) for n in parsed.nodes] == [(0, "extract"), (1, "transform")]
    assert [(e.source, e.target, e.edge_name, e.param_type, e.arg_index) for e in parsed.edges] == [
        (0, 1, "rows", "arg", 0)
    ]


def test_nested_calls_run_arguments_first_and_repeated_calls_fan_out() -> None:
    parsed = parse_pipeline(
        "@dr.task\ndef a(x): ...\n@dr.task()\ndef b(x, y): ...\n"
        "@dr.lattice\ndef wf(x):\n    first = a(x)\n    return b(a(first), y=first)\n",
        "f.py",
    )
    assert [(n.id, n.task.name) for n in parsed.nodes] == [(0, "a"), (1, "a"), (2, "b")]
    assert {(e.source, e.target, e.edge_name) for e in parsed.edges} == {(0, 1, "x"), (1, 2, "x"), (0, 2, "y")}


def test_without_task_calls_the_graph_falls_back_to_definition_order() -> None:
    parsed = parse_pipeline("@task\ndef one(): ...\n@task\ndef two(): ...\n@pipeline\ndef wf():\n    pass\n", "f.py")
    assert [n.task.name for n in parsed.nodes] == ["one", "two"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("def broken(:\n", "invalid Python in f.py, line 1"),
        ("@task\ndef only_a_task(): ...\n", "no @pipeline function found in f.py"),
        ("@pipeline\ndef a(): ...\n@dr.pipeline\ndef b(): ...\n", "more than one @pipeline function"),
    ],
)
def test_unusable_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_pipeline(text, "f.py")
