"""OpenLineage events and asset events of the lineage example DAG, under dag.test() against the emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from airflow_provider_drpipelines.emulator import EmulatorServer
from tests.conftest import OPENLINEAGE_EVENTS
from tests.integration.conftest import REPO, run_dag

pytestmark = pytest.mark.integration

DAG_ID = "example_datarobot_pipeline_lineage"
DAG_FILE = REPO / "tests" / "dags" / "examples" / f"{DAG_ID}.py"
JOB = f"{DAG_ID}.score_customers"


def _events_of(job_name: str, dag_run_id: str) -> list[dict[str, Any]]:
    """The emitted OpenLineage events of one task in one DAG run, read back from the file transport."""
    events = [json.loads(line) for line in OPENLINEAGE_EVENTS.read_text().splitlines() if line.strip()]
    return [
        e
        for e in events
        if e["job"]["name"] == job_name
        and e["run"]["facets"].get("airflow", {}).get("dagRun", {}).get("run_id", dag_run_id) == dag_run_id
    ]


def _asset_event_extras(dag_run_id: str) -> list[dict[str, Any]]:
    from airflow.utils.session import create_session

    try:  # Airflow 3.x
        from airflow.models.asset import AssetEvent as Event
    except ImportError:  # Airflow 2.11
        from airflow.models.dataset import DatasetEvent as Event

    with create_session() as session:
        rows = session.query(Event).filter(Event.source_dag_id == DAG_ID, Event.source_run_id == dag_run_id).all()
        return [dict(r.extra) for r in rows]


def test_run_emits_start_and_complete_with_the_datarobot_run(pipeline_id: str, emulator: EmulatorServer) -> None:
    pytest.importorskip("airflow.providers.openlineage")

    result = run_dag(DAG_FILE, DAG_ID, {"pipeline_id": pipeline_id})

    assert result.state == "success", result
    run_id = result.xcoms[("score_customers", "run_id")]
    run_url = result.xcoms[("score_customers", "run_url")]
    events = _events_of(JOB, result.run_id)
    types = [e["eventType"] for e in events]
    assert "START" in types and "COMPLETE" in types, types
    start = next(e for e in events if e["eventType"] == "START")
    complete = next(e for e in events if e["eventType"] == "COMPLETE")
    host = emulator.base_url.split("://", 1)[1].split("/")[0]
    assert start["job"]["facets"]["datarobotPipeline"]["pipeline_id"] == pipeline_id
    assert complete["job"]["facets"]["datarobotPipeline"]["version"] == 1
    run_facets = complete["run"]["facets"]
    assert run_facets["datarobotPipelineRun"]["run_id"] == run_id
    assert run_facets["datarobotPipelineRun"]["url"] == run_url
    assert run_facets["datarobotPipelineRun"]["status"] == "COMPLETED"
    assert run_facets["externalQuery"] == {
        "_producer": run_facets["externalQuery"]["_producer"],
        "_schemaURL": run_facets["externalQuery"]["_schemaURL"],
        "externalQueryId": run_id,
        "source": f"datarobot://{host}",
    }


@pytest.fixture(autouse=True)
def _asset_registered_where_dag_test_does_not_sync_it() -> None:
    """Airflow 2.11's and 3.0's dag.test() do not sync the DAG's assets: 2.11 drops events of an unknown
    dataset, 3.0 refuses to run a task whose outlet is not an active asset. 3.1+ sync them themselves."""
    from airflow import __version__ as airflow_version
    from airflow.utils.session import create_session

    uri = "datarobot://example/customer_scores"
    with create_session() as session:
        try:
            from airflow.models.dataset import DatasetModel  # Airflow 2.11
        except ImportError:
            if not airflow_version.startswith("3.0."):
                return
            from airflow.models.asset import AssetActive, AssetModel

            if not session.query(AssetModel).filter(AssetModel.uri == uri).count():
                asset = AssetModel(name=uri, uri=uri)
                session.add_all([asset, AssetActive.for_asset(asset)])
            return
        if not session.query(DatasetModel).filter(DatasetModel.uri == uri).count():
            session.add(DatasetModel(uri=uri))


def test_deferred_run_puts_the_run_into_its_asset_event(pipeline_id: str, emulator: EmulatorServer) -> None:
    pytest.importorskip("airflow.providers.openlineage")  # the example DAG injects the parent run
    result = run_dag(DAG_FILE, DAG_ID, {"pipeline_id": pipeline_id})

    assert result.state == "success", result
    run_id = result.xcoms[("score_customers", "run_id")]
    assert _asset_event_extras(result.run_id) == [
        {
            "pipeline_id": pipeline_id,
            "version": 1,
            "run_id": run_id,
            "run_url": result.xcoms[("score_customers", "run_url")],
        }
    ]


def test_the_pipeline_receives_the_parent_run_in_its_payload(pipeline_id: str, emulator: EmulatorServer) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

    result = run_dag(DAG_FILE, DAG_ID, {"pipeline_id": pipeline_id})

    hook = DataRobotPipelinesHook()
    run_id = result.xcoms[("score_customers", "run_id")]
    run = hook.get_run(pipeline_id, run_id, 1)
    payload = hook.get_input(pipeline_id, run["inputId"], 1)["payload"]
    start = next(e for e in _events_of(JOB, result.run_id) if e["eventType"] == "START")
    assert payload["openlineage_parent"]["parentRunId"] == start["run"]["runId"]
    assert payload["openlineage_parent"]["parentJobName"] == JOB


def test_parsing_and_the_asset_path_import_nothing_from_openlineage() -> None:
    """Parsing the DAG and the lineage module import no OpenLineage (only Airflow's ProvidersManager touches
    an installed provider's ``get_provider_info``): the facets are built only when the listener asks."""
    code = (
        "import runpy, sys\n"
        "from airflow_provider_drpipelines import operators\n"
        "from airflow_provider_drpipelines.utils import lineage\n"
        f"runpy.run_path({str(DAG_FILE)!r})\n"
        "loaded = {m for m in sys.modules if 'openlineage' in m}\n"
        "print(sorted(loaded - {'airflow.providers.openlineage', 'airflow.providers.openlineage.get_provider_info'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_parent_info_without_the_provider_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_drpipelines.exceptions import DataRobotConfigError
    from airflow_provider_drpipelines.utils.lineage import with_parent_info

    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.plugins", None)
    with pytest.raises(DataRobotConfigError, match=r"airflow-provider-drpipelines\[openlineage\]"):
        with_parent_info({"a": 1}, {})  # type: ignore[arg-type]


def test_failed_run_emits_fail_with_the_run_and_its_failing_task(pipeline_id: str, emulator: EmulatorServer) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    script = {"outcome": "FAILED", "failing_task": "score"}

    result = run_dag(
        REPO / "tests" / "dags" / "it_run_pipeline.py",
        "it_run_deferrable",
        {"pipeline_id": pipeline_id, "script": script},
    )

    assert result.task_states == {"run": "failed"}
    fail = next(e for e in _events_of("it_run_deferrable.run", result.run_id) if e["eventType"] == "FAIL")
    run_facet = fail["run"]["facets"]["datarobotPipelineRun"]
    assert run_facet["run_id"] == result.xcoms[("run", "run_id")]
    assert run_facet["url"] == result.xcoms[("run", "run_url")]
    assert run_facet["status"] == "FAILED"
    assert (
        "Task 'score' FAILED: ValueError: scripted failure in task 'score'"
        in fail["run"]["facets"]["errorMessage"]["message"]
    )
