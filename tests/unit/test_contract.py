"""Answers and inputs that break the API's contract: clear errors, never a crash or a late failure.

Hostile bodies come from a scripted server, whole flows from the emulator.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_drpipelines.client.limits import MAX_JSON_BYTES, MAX_PAYLOAD_BYTES
from airflow_provider_drpipelines.exceptions import ApiResponseError, DataRobotConfigError, PipelineNotReadyError
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from airflow_provider_drpipelines.operators import (
    DataRobotCreatePipelineInputOperator,
    DataRobotRunPipelineOperator,
    resolve_payload,
)
from airflow_provider_drpipelines.readiness import DataRobotReadinessTrigger
from airflow_provider_drpipelines.utils.builds import (
    IMAGE_VERSION,
    MAX_UNKNOWN_POLLS,
    PIPELINE_VERSION,
    Target,
    wait_in_worker,
)
from airflow_provider_drpipelines.utils.dry_run import RunRequest, dry_run
from airflow_provider_drpipelines.utils.lifecycle import ImageSpec, provide_image
from airflow_provider_drpipelines.utils.names import resolve_pipeline_id
from airflow_provider_drpipelines.utils.results import check_task_names, collect_results
from tests.unit.conftest import make_context, run_events
from tests.unit.scripted_server import Request, ScriptedServer, reply
from tests.unit.test_hostile import TOKEN, settings, sync_hook

Routes = dict[str, Any]


def router(routes: Routes) -> Callable[[Request], bytes]:
    """Answer each request with the body of the first route whose regex matches ``METHOD path?query``.

    A route's value is a JSON body, raw ``bytes`` (a whole answer) or a function of the query's parameters.
    """

    def answer(request: Request) -> bytes:
        for pattern, route in routes.items():
            if re.search(pattern, f"{request.method} {request.target}"):
                query = {k: v[0] for k, v in parse_qs(urlsplit(request.target).query).items()}
                body = route(query) if callable(route) else route
                return body if isinstance(body, bytes) else reply(body)
        return reply({"detail": "not scripted"}, status=404)

    return answer


def served(routes: Routes) -> ScriptedServer:
    return ScriptedServer([router(routes)])


def page(*items: Any, more: bool = False) -> dict[str, Any]:
    return {"data": list(items), "next": "http://next" if more else None}


def pipeline(pid: str, name: str = "Score customers", **fields: Any) -> dict[str, Any]:
    return {"id": pid, "name": name, "mode": "locked", "isActive": True, **fields}


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = [value]
    return value


# --- item 5: every reader turns a broken answer into ApiResponseError -----------------------------
READERS: list[tuple[str, Routes, Callable[[DataRobotPipelinesHook], Any], str]] = [
    (
        "task-list-with-null",
        {r"GET .*/tasks$": [None, "load", 3]},
        lambda hook: collect_results(hook, "p1", "r1", None),
        r"list_task_executions\(p1, r1\) has null at items\[0\] where an object",
    ),
    (
        "task-without-name",
        {r"GET .*/tasks$": [{"status": "COMPLETED", "taskId": 1}]},
        lambda hook: collect_results(hook, "p1", "r1", None),
        "lacks the field 'name'",
    ),
    (
        "pipeline-listing-with-strings",
        {r"GET /api/v2/pipelines\?": page("Score customers", None, 7)},
        lambda hook: resolve_pipeline_id(hook, "Score customers"),
        r"has a string at data\[0\] where an object was expected",
    ),
    (
        "exact-name-without-id",
        {r"GET /api/v2/pipelines\?": page({"name": "Score customers", "isActive": True})},
        lambda hook: resolve_pipeline_id(hook, "Score customers"),
        r"list_pipelines\(search='Score customers'\) lacks the field 'id'",
    ),
    (
        "pipeline-versions-with-null",
        {r"GET /api/v2/pipelines/p1$": pipeline("p1", versions=[None])},
        lambda hook: hook.resolve_version("p1", "latest"),
        r"get_pipeline\(p1\) has null at versions\[0\]",
    ),
    (
        "version-number-as-text",
        {r"GET /api/v2/pipelines/p1$": pipeline("p1", versions=[{"version": "1", "status": "READY"}])},
        lambda hook: dry_run(hook, RunRequest("p1", "latest", None, None, None, None)),
        "has 'version' set to a string where an integer was expected",
    ),
    (
        "task-names-not-a-list",
        {r"GET /api/v2/pipelines/p1/versions/1$": {"version": 1, "status": "READY", "taskNames": 7}},
        lambda hook: check_task_names(hook, "p1", 1, ["load"]),
        r"get_version\(p1\) has 'taskNames' set to an integer where an array was expected",
    ),
    (
        "image-versions-with-null",
        {r"GET /api/v2/pipelines/images/i1$": {"id": "i1", "versions": [None]}},
        lambda hook: wait_in_worker(
            hook, Target(IMAGE_VERSION, "i1", 1), poll_interval=0.01, max_poll_interval=0.01, deadline=None
        ),
        r"get_image\(i1\) has null at versions\[0\]",
    ),
    (
        "image-listing-without-id",
        {r"GET /api/v2/pipelines/images\?": page({"name": "img"})},
        lambda hook: provide_image(hook, ImageSpec("img", ("pandas",), "3.12", False), None),
        r"list_images\(\) lacks the field 'id'",
    ),
    (
        "image-create-without-version",
        {r"GET /api/v2/pipelines/images\?": page(), r"POST /api/v2/pipelines/images$": {"id": "i1"}},
        lambda hook: provide_image(hook, ImageSpec("img", ("pandas",), "3.12", False), None),
        r"create_image\(\) lacks the field 'latestVersion'",
    ),
]


@pytest.mark.parametrize(("routes", "read", "match"), [r[1:] for r in READERS], ids=[r[0] for r in READERS])
def test_a_broken_answer_is_an_api_response_error_naming_the_call_and_the_problem(
    routes: Routes, read: Callable[[DataRobotPipelinesHook], Any], match: str
) -> None:
    with served(routes) as server, pytest.raises(ApiResponseError, match=match) as info:
        read(sync_hook(settings(server.url)))
    assert TOKEN not in str(info.value)


def test_a_broken_task_list_is_mentioned_in_a_failed_runs_description_never_raised() -> None:
    routes = {r"GET .*/dispatches/r1$": {"id": "r1", "status": "FAILED"}, r"GET .*/tasks$": [None, "load"]}
    with served(routes) as server:
        text = sync_hook(settings(server.url)).describe_run_failure("p1", "r1", None, "FAILED")
    assert "ended FAILED" in text and "Could not fetch the run's details" in text and "null at items[0]" in text


def test_the_name_lookup_counts_a_pipeline_once_when_a_growing_listing_shows_it_on_two_pages() -> None:
    # A pipeline created between the two page requests pushes "p2" from the end of page 1 to page 2's start.
    pages = {
        "0": page(pipeline("p9", "Score customers (old copy)"), pipeline("p2"), more=True),
        "2": page(pipeline("p2"), pipeline("p3", "Score customers 2")),
    }
    with served({r"GET /api/v2/pipelines\?": lambda query: pages[query["offset"]]}) as server:
        assert resolve_pipeline_id(sync_hook(settings(server.url)), "Score customers") == "p2"
    assert len(server.requests) == 2


# --- item 6: only values Airflow can store are pushed; one task's trouble stays its own -------------
TASKS = [
    {"name": "load", "status": "COMPLETED", "taskId": 1, "nodeId": 0},
    {"name": "score", "status": "COMPLETED", "taskId": 2, "nodeId": 1},
]


def results_with(load_result: bytes | dict[str, Any]) -> dict[str, dict[str, Any]]:
    routes = {
        r"GET .*/tasks$": TASKS,
        r"GET .*/tasks/1/result": load_result,
        r"GET .*/tasks/2/result": {"url": "https://s3/presigned", "valueAvailable": True, "value": {"rows": 3}},
    }
    with served(routes) as server:
        return collect_results(sync_hook(settings(server.url)), "p1", "r1", None)


@pytest.mark.parametrize(
    ("load_result", "reason"),
    [
        (reply({"detail": "Result of task 1 is not yet available"}, status=409), "not yet available"),
        (reply(raw=b'{"url": "https://s3/x?X-Amz-Signature=abc", "value": [1, 2', status=200), "could not be read"),
        ({"valueAvailable": True, "value": 1}, "could not be read"),
        ({"url": "https://s3/x?X-Amz-Signature=abc", "valueAvailable": "yes", "value": 1}, "could not be read"),
    ],
    ids=["409-not-yet-available", "undecodable", "no-url", "availability-not-a-bool"],
)
def test_one_tasks_unreadable_result_marks_that_task_alone_unavailable(load_result: Any, reason: str) -> None:
    results = results_with(load_result)
    assert reason in results["load"]["value_unavailable"] and "value" not in results["load"]
    assert "X-Amz-Signature" not in json.dumps(results), "a result's presigned URL is never pushed"
    assert results["score"]["value"] == {"rows": 3}


def test_a_value_nested_deeper_than_a_payload_may_be_gets_its_size_and_ids_not_its_value() -> None:
    deep = nested(600)  # a few KB: well within result_size_limit
    results = results_with({"url": "https://s3/x", "valueAvailable": True, "value": deep})
    load = results["load"]
    assert "value" not in load and "nested more than 100 levels" in load["value_unavailable"]
    assert load["value_size"] == len(json.dumps(deep, separators=(",", ":")))
    assert (load["pipeline_id"], load["run_id"], load["task_id"], load["node_id"]) == ("p1", "r1", 1, 0)
    assert "value" not in load and results["score"]["value"] == {"rows": 3}


def test_a_value_holding_the_connections_token_is_pushed_scrubbed() -> None:
    value = {"echo": f"Authorization: Bearer {TOKEN}", TOKEN: [json.dumps(TOKEN)], "n": 1}
    results = results_with({"url": "https://s3/x", "valueAvailable": True, "value": value})
    assert TOKEN not in json.dumps(results)
    assert results["load"]["value"] == {"echo": "Authorization: Bearer ***", "***": ['"***"'], "n": 1}


# --- item 7: payloads bounded before any call --------------------------------------------------
@pytest.mark.parametrize("depth", [101, 700, 5000])
@pytest.mark.parametrize("operator", [DataRobotCreatePipelineInputOperator, DataRobotRunPipelineOperator])
def test_a_payload_nested_too_deep_is_refused_when_the_dag_is_parsed(operator: Any, depth: int) -> None:
    with pytest.raises(DataRobotConfigError, match="nested more than 100 levels deep"):
        operator(task_id="t", pipeline_id="p1", version=1, payload={"deep": nested(depth)})


def test_a_json_text_payload_nested_past_what_the_parser_copes_with_is_the_same_clear_error() -> None:
    text = '{"a": ' * 5000 + "1" + "}" * 5000  # what a templated .json file renders to
    with pytest.raises(DataRobotConfigError, match="nested more than 100 levels deep"):
        resolve_payload("deep.json", text)


def test_a_payload_nested_100_levels_is_accepted() -> None:
    DataRobotCreatePipelineInputOperator(task_id="t", pipeline_id="p1", payload={"deep": nested(99)})


def test_a_payload_whose_echo_the_client_could_not_read_is_refused_before_the_post(emu: Any, pipeline: str) -> None:
    op = DataRobotCreatePipelineInputOperator(task_id="t", pipeline_id=pipeline, version=1, payload={"b": "x" * 10**7})
    with pytest.raises(DataRobotConfigError, match=f"more than the {MAX_PAYLOAD_BYTES:,} bytes allowed") as info:
        op.execute(make_context())
    assert f"{MAX_JSON_BYTES:,} bytes" in str(info.value)
    assert not [r for r in emu.request_log() if r["method"] == "POST" and r["path"].endswith("/inputs")]


def test_a_lost_create_of_a_large_payload_is_reconciled_through_pages_that_fit_the_cap(
    emu: Any, pipeline: str, dr_hook: DataRobotPipelinesHook
) -> None:
    blob = "x" * (3 * 1024 * 1024)
    for n in range(3):
        dr_hook.create_input(pipeline, {"batch_date": "2024-01-01", "blob": blob, "n": n}, 1)
    emu.clear_requests()
    emu.add_fault(method="POST", path="/inputs/?$", status=503, when="after")
    payload = {"batch_date": "2024-01-01", "blob": blob, "n": 3}

    created, certainly_new = dr_hook.create_input_exactly_once(pipeline, payload, 1)

    assert not certainly_new and created["payload"] == payload
    assert len(emu.request_log(path="/inputs/?$", method="POST")) == 1
    assert emu.stats()["inputs"] == 4


# --- item 8: readiness waits fail closed ---------------------------------------------------------
ARCHIVED = {r"GET /api/v2/pipelines/p1/versions/1$": {"version": 1, "status": "ARCHIVED"}}


def test_the_worker_wait_ends_on_a_version_status_it_does_not_know() -> None:
    with served(ARCHIVED) as server, pytest.raises(PipelineNotReadyError, match="'ARCHIVED', which this provider"):
        wait_in_worker(
            sync_hook(settings(server.url)),
            Target(PIPELINE_VERSION, "p1", 1),
            poll_interval=0.01,
            max_poll_interval=0.01,
            deadline=time.time() + 5,  # a bound for the old code, which polls on until the deadline
        )
    assert len(server.requests) == MAX_UNKNOWN_POLLS


def test_the_deferred_wait_ends_on_a_version_status_it_does_not_know(conn_env: Any) -> None:
    with served(ARCHIVED) as server:
        conn_env(host=server.url, password=TOKEN)
        trigger = DataRobotReadinessTrigger(
            kind=PIPELINE_VERSION, resource_id="p1", version=1, poll_interval=0.01, max_poll_interval=0.01,
            end_time=time.time() + 5,
        )  # fmt: skip
        (event,) = run_events(trigger)
    assert event["status"] == "error" and "'ARCHIVED', which this provider does not know" in event["message"]
    assert len(server.requests) == MAX_UNKNOWN_POLLS


def _image_version_deleted_while_building(hook: DataRobotPipelinesHook) -> Target:
    image = hook.create_image("img", packages=["pandas"], python_version="3.12")
    updated = hook.update_image(image["id"], "img", packages=["numpy"], python_version="3.12")
    hook.delete_image_version(image["id"], updated["latestVersion"])
    return Target(IMAGE_VERSION, image["id"], updated["latestVersion"])


def test_the_worker_wait_ends_when_the_image_version_it_waits_for_is_deleted(
    emu: Any, dr_hook: DataRobotPipelinesHook
) -> None:
    target = _image_version_deleted_while_building(dr_hook)
    emu.clear_requests()
    with pytest.raises(PipelineNotReadyError, match=f"Version 2 of image {target.resource_id} is no longer listed"):
        wait_in_worker(dr_hook, target, poll_interval=0.01, max_poll_interval=0.01, deadline=time.time() + 5)
    assert len(emu.request_log(method="GET")) == MAX_UNKNOWN_POLLS


def test_the_deferred_wait_ends_when_the_image_version_it_waits_for_is_deleted(
    emu: Any, dr_hook: DataRobotPipelinesHook
) -> None:
    target = _image_version_deleted_while_building(dr_hook)
    trigger = DataRobotReadinessTrigger(
        kind=IMAGE_VERSION, resource_id=target.resource_id, version=target.version, poll_interval=0.01,
        max_poll_interval=0.01, end_time=time.time() + 5,
    )  # fmt: skip
    (event,) = run_events(trigger)
    assert event["status"] == "error" and "is no longer listed" in event["message"]
