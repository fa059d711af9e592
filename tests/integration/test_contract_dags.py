"""Real Airflow (dag.test()) storing what a run's tasks produced: a value XCom cannot serialize is never pushed."""

from __future__ import annotations

import json
import runpy
from typing import Any

import pytest

from tests.integration.conftest import REPO
from tests.unit.scripted_server import Request, ScriptedServer, reply

pytestmark = pytest.mark.integration

DAGS = REPO / "tests" / "dags" / "it_contract.py"
TOKEN = "it-scripted-token-0123456789"


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = [value]
    return value


def completed_run_whose_result_is(value: Any) -> Any:
    """The API of one COMPLETED run of input i1 with one task, ``load``, whose result value is ``value``."""
    answers = {
        "GET /api/v2/pipelines/p1/versions/1/dispatches?": {"data": [], "next": None},
        "POST /api/v2/pipelines/p1/versions/1/dispatches": {"id": "r1", "status": "COMPLETED", "inputId": "i1"},
        "GET /api/v2/pipelines/p1/dispatches/r1/tasks/1/result": {"url": "https://s3/x", "valueAvailable": True,
                                                                  "value": value},
        "GET /api/v2/pipelines/p1/dispatches/r1/tasks": [{"name": "load", "status": "COMPLETED", "taskId": 1}],
    }  # fmt: skip

    def answer(request: Request) -> bytes:
        head = f"{request.method} {request.target}"
        return next((reply(body) for start, body in answers.items() if head.startswith(start)), reply(status=404))

    return answer


def test_a_result_value_too_deep_for_xcom_is_not_pushed_and_the_completed_run_succeeds(
    airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = nested(600)  # 3.6 KB: within result_size_limit, but Airflow 3's XCom serialization recurses past it
    with ScriptedServer([completed_run_whose_result_is(deep)]) as server:
        module = runpy.run_path(str(DAGS))
        connection = {"conn_type": "datarobot_pipelines", "host": server.url, "password": TOKEN}
        monkeypatch.setenv(f"AIRFLOW_CONN_{module['SCRIPTED_CONN_ID'].upper()}", json.dumps(connection))

        dag_run = module["it_results"].test()

    (ti,) = dag_run.get_task_instances()
    assert str(ti.state) == "success" and str(dag_run.state) == "success"
    entry = ti.xcom_pull(task_ids="run", key="pipeline_results")["load"]
    assert entry["status"] == "COMPLETED" and "value" not in entry
    assert "nested more than 100 levels deep" in entry["value_unavailable"]
    assert entry["value_size"] == len(json.dumps(deep, separators=(",", ":")))
