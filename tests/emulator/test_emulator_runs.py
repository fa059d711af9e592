"""Wire tests: inputs (§4.2), runs and their state machine (§4.3), task executions, logs, results."""

from __future__ import annotations

import pytest
import requests

from .client import Api, pipeline_source

THREE_TASKS = pipeline_source(tasks=("extract", "transform", "publish"))


def test_input_state_says_whether_the_payload_fits_the_pipeline_signature(api: Api) -> None:
    pid = api.pipeline()["id"]
    template = api.ok("GET", f"/pipelines/{pid}")["inputSetTemplate"]
    assert template == '{"data": null}'  # my_workflow(data: dict): required, so null
    valid = api.ok("POST", f"/pipelines/{pid}/inputs", 201, json={"payload": {"data": 1, "_emulator": {}}})
    missing = api.ok("POST", f"/pipelines/{pid}/inputs", 201, json={"payload": {"other": 1}})
    assert (valid["state"], missing["state"]) == ("VALID", "INVALID")


@pytest.mark.parametrize("locked", [False, True])
def test_input_crud_in_both_scopes(api: Api, locked: bool) -> None:
    pid = api.locked() if locked else api.pipeline()["id"]
    scope = "/versions/1" if locked else ""
    created = api.ok("POST", f"/pipelines/{pid}{scope}/inputs", 201, json={"payload": {"data": 1}})
    assert created | {"id": None, "createdAt": None, "updatedAt": None} == {
        "id": None,
        "pipelineId": pid,
        "versionId": 1 if locked else None,
        "isDraft": not locked,
        "payload": {"data": 1},
        "state": "VALID",
        "createdAt": None,
        "updatedAt": None,
    }
    iid = created["id"]
    second = api.input(pid, {"data": 2}, version=1 if locked else None)
    listed = api.ok("GET", f"/pipelines/{pid}{scope}/inputs/")
    assert [i["id"] for i in listed["data"]] == [second, iid]
    assert api.ok("GET", f"/pipelines/{pid}{scope}/inputs/{iid}")["payload"] == {"data": 1}
    patched = api("PATCH", f"/pipelines/{pid}{scope}/inputs/{iid}", json={"payload": {"data": 3}})
    if locked:
        assert patched.status_code == 409 and "immutable" in patched.json()["detail"]
    else:
        assert patched.json()["payload"] == {"data": 3}
    deleted = api("DELETE", f"/pipelines/{pid}{scope}/inputs/{iid}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert api("GET", f"/pipelines/{pid}{scope}/inputs/{iid}").status_code == 404


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ([1, 2], ["body", "payload"]),
        ({"_emulator": {"outcome": "EXPLODED"}}, ["body", "payload", "_emulator", "outcome"]),
        ({"_emulator": {"seconds": -1}}, ["body", "payload", "_emulator", "seconds"]),
        (
            {"_emulator": {"outcome": "FAILED", "failing_task": "nope"}},
            ["body", "payload", "_emulator", "failing_task"],
        ),
        ({"_emulator": {"colour": "red"}}, ["body", "payload", "_emulator"]),
    ],
)
def test_invalid_payloads_are_422(api: Api, payload: object, loc: list[str]) -> None:
    pid = api.pipeline()["id"]
    response = api("POST", f"/pipelines/{pid}/inputs", json={"payload": payload})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_draft_scope_of_a_locked_pipeline_refuses_new_inputs_and_runs(api: Api) -> None:
    pid = api.pipeline()["id"]
    iid = api.input(pid)
    api.ok("PATCH", f"/pipelines/{pid}/mode")
    assert api("POST", f"/pipelines/{pid}/inputs", json={"payload": {}}).status_code == 409
    assert api("POST", f"/pipelines/{pid}/dispatches", json={"inputId": iid}).status_code == 409
    assert api("POST", f"/pipelines/{pid}/versions/1/dispatches", json={"inputId": iid}).status_code == 409


@pytest.mark.parametrize("key", ["inputId", "input_id"])
def test_run_create_accepts_both_key_casings_and_checks_references(api: Api, key: str) -> None:
    pid = api.pipeline()["id"]
    iid = api.input(pid)
    run = api.ok("POST", f"/pipelines/{pid}/dispatches", 201, json={key: iid})
    assert run["status"] == "PENDING" and run["triggeredBy"] == "api"
    assert (run["versionId"], run["covalentDispatchId"], run["errorDetail"], run["imageId"]) == (None,) * 4
    missing = api("POST", f"/pipelines/{pid}/dispatches", json={key: "000000000000000000000000"})
    assert missing.status_code == 404
    bad_image = api("POST", f"/pipelines/{pid}/dispatches", json={key: iid, "image_id": "nope"})
    assert bad_image.status_code == 404
    assert api("POST", f"/pipelines/{pid}/dispatches", json={}).status_code == 422


def test_run_walks_the_state_machine_to_completed(api: Api) -> None:
    pid = api.pipeline()["id"]
    did = api.run(pid)
    seen = api.wait_terminal(pid, did)
    assert seen == ["PENDING", "PREPARING", "RUNNING", "COMPLETED"]
    run = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}")
    assert (run["status"], run["errorDetail"], run["covalentDispatchId"]) == ("COMPLETED", None, f"emu-{did}")


def test_covalent_dispatch_id_is_null_until_preparing(api: Api) -> None:
    pid = api.pipeline()["id"]
    did = api.run(pid, {"_emulator": {"seconds": 2.0}})
    first = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/status/")
    assert first == {"id": did, "status": "PENDING", "covalentDispatchId": None}
    api.emu.advance(0.3)
    preparing = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/status")
    assert preparing == {"id": did, "status": "PREPARING", "covalentDispatchId": f"emu-{did}"}


def test_locked_runs_carry_the_version_number_and_stay_in_their_scope(api: Api) -> None:
    pid = api.locked()
    did = api.run(pid, version=1)
    run = api.ok("GET", f"/pipelines/{pid}/versions/1/dispatches/{did}")
    assert run["versionId"] == 1
    assert api("GET", f"/pipelines/{pid}/dispatches/{did}").status_code == 404
    assert [r["id"] for r in api.ok("GET", f"/pipelines/{pid}/versions/1/dispatches")["data"]] == [did]
    assert api.ok("GET", f"/pipelines/{pid}/dispatches")["data"] == []
    assert api.wait_terminal(pid, did, version=1)[-1] == "COMPLETED"
    # run-task routes have no version segment, even for locked runs (§10.2)
    assert len(api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks")) == 2


def test_input_of_another_scope_is_409(api: Api) -> None:
    pid = api.locked()
    api.ok("PATCH", f"/pipelines/{pid}", 409, files={"name": (None, "x")})
    pid2 = api.pipeline(pipeline_source("second"))["id"]
    draft_input = api.input(pid2)
    api.ok("PATCH", f"/pipelines/{pid2}", files={"file": ("f.py", pipeline_source("second").encode())})
    api.ok("PATCH", f"/pipelines/{pid2}/mode")
    response = api("POST", f"/pipelines/{pid2}/versions/2/dispatches", json={"inputId": draft_input})
    assert response.status_code == 409
    assert response.json()["detail"] == f"Input {draft_input} belongs to the draft, not version 2"


def test_run_list_is_newest_first_and_paginated(api: Api) -> None:
    pid = api.pipeline()["id"]
    ids = [api.run(pid) for _ in range(3)]
    page = api.ok("GET", f"/pipelines/{pid}/dispatches", params={"limit": 2, "offset": 1})
    assert [r["id"] for r in page["data"]] == ids[::-1][1:]
    assert (page["totalCount"], page["count"], page["next"]) == (3, 2, None)
    assert page["previous"].startswith(f"{api.url}/pipelines/{pid}/dispatches?")


def test_cancel_is_204_then_cancelled_and_409_when_terminal(api: Api) -> None:
    pid = api.pipeline()["id"]
    did = api.run(pid, {"_emulator": {"seconds": 1.0}})
    api.emu.advance(0.4)  # RUNNING: the first task is under way
    response = api("DELETE", f"/pipelines/{pid}/dispatches/{did}")
    assert (response.status_code, response.content) == (204, b"")
    api.emu.advance(1.0)  # long past the scripted end: still CANCELLED
    assert api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/status")["status"] == "CANCELLED"
    tasks = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks")
    assert [t["status"] for t in tasks] == ["CANCELLED", "CANCELLED"]
    assert tasks[0]["startedAt"] and tasks[0]["completedAt"] and tasks[1]["startedAt"] is None
    again = api("DELETE", f"/pipelines/{pid}/dispatches/{did}")
    assert again.status_code == 409
    assert again.json() == {"detail": f"Run {did} is already terminal (CANCELLED)"}
    finished = api.run(pid, {"_emulator": {"seconds": 0}})
    assert api("DELETE", f"/pipelines/{pid}/dispatches/{finished}").json()["detail"].endswith("(COMPLETED)")
    assert api("DELETE", f"/pipelines/{pid}/dispatches/000000000000000000000000").status_code == 404


def test_task_executions_follow_the_run(api: Api) -> None:
    pid = api.pipeline(THREE_TASKS)["id"]
    did = api.run(pid, {"_emulator": {"seconds": 1.2}})
    assert api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks") == []  # PENDING: nothing traced yet
    api.emu.advance(0.45)  # inside the first task's slice (0.3 s .. 0.6 s)
    running = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks")
    assert [(t["name"], t["status"]) for t in running] == [
        ("extract", "RUNNING"), ("transform", "PENDING"), ("publish", "PENDING"),
    ]  # fmt: skip
    api.wait_terminal(pid, did)
    done = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks")
    assert [(t["taskId"], t["nodeId"], t["graphNodeId"], t["status"]) for t in done] == [
        (1, 0, 0, "COMPLETED"), (2, 1, 1, "COMPLETED"), (3, 2, 2, "COMPLETED"),
    ]  # fmt: skip
    assert all(t["startedAt"] < t["completedAt"] for t in done)
    assert done[0]["completedAt"] == done[1]["startedAt"]
    one = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks/2")
    assert one == done[1]
    assert api("GET", f"/pipelines/{pid}/dispatches/{did}/tasks/9").json() == {"detail": "task not found"}


def test_result_is_409_until_completed_then_has_a_json_value(api: Api) -> None:
    pid = api.pipeline()["id"]
    did = api.run(pid, {"data": {"rows": 3}, "_emulator": {"seconds": 1.0}})
    api.emu.advance(0.35)
    early = api("GET", f"/pipelines/{pid}/dispatches/{did}/tasks/1/result")
    assert early.status_code == 409 and "RUNNING" in early.json()["detail"]
    api.wait_terminal(pid, did)
    result = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks/1/result")
    assert result["value"] == {"task": "load", "nodeId": 0, "inputs": {"data": {"rows": 3}}}
    assert (result["valueAvailable"], result["contentType"], result["expiresIn"]) == (
        True, "application/octet-stream", 900,
    )  # fmt: skip
    stored = requests.get(result["url"], timeout=5)
    assert stored.status_code == 200 and stored.headers["content-type"] == "application/octet-stream"


def test_live_and_durable_logs(api: Api) -> None:
    pid = api.pipeline()["id"]
    did = api.run(pid, {"_emulator": {"seconds": 0.3}})
    api.wait_terminal(pid, did)
    base = f"/pipelines/{pid}/dispatches/{did}/tasks/1/logs"
    user = api.ok("GET", base)
    assert "Starting task 'load'" in user["logs"] and "[platform]" not in user["logs"]
    assert user["filteredLineCount"] == 1
    everything = api.ok("GET", base, params={"verbosity": "all"})
    assert "[platform]" in everything["logs"] and everything["filteredLineCount"] == 0
    tail = api.ok("GET", base, params={"tail_lines": 1})
    assert tail["logs"] == user["logs"].splitlines()[-1] and "completed" in tail["logs"]
    stdout = api.ok("GET", base + "/stdout")
    assert stdout["contentType"] == "text/plain" and stdout["truncated"] is False
    assert stdout["totalBytes"] == len(stdout["content"].encode()) and "completed" in stdout["content"]
    assert api.ok("GET", base + "/stderr")["content"] == ""
    assert api("GET", base + "/stdin").status_code == 422
    assert api("GET", base, params={"verbosity": "loud"}).status_code == 422


def test_scripted_failure_marks_the_task_and_says_why(api: Api) -> None:
    pid = api.pipeline(THREE_TASKS)["id"]
    script = {"outcome": "FAILED", "seconds": 0.4, "failing_task": "transform"}
    did = api.run(pid, {"_emulator": script})
    assert api.wait_terminal(pid, did)[-1] == "FAILED"
    run = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}")
    assert run["errorDetail"] == (
        "Task 'transform' failed: ValueError: scripted failure in task 'transform' (emulator outcome FAILED)"
    )
    tasks = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks")
    assert [t["status"] for t in tasks] == ["COMPLETED", "FAILED", "CANCELLED"]
    assert tasks[1]["errorDetail"].startswith("ValueError: scripted failure in task 'transform'")
    stderr = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks/2/logs/stderr")["content"]
    assert stderr.startswith("Traceback (most recent call last):")
    assert "ValueError: scripted failure in task 'transform' (emulator outcome FAILED)" in stderr
    assert "scripted to fail" in api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks/2/logs")["logs"]
    assert api("GET", f"/pipelines/{pid}/dispatches/{did}/tasks/2/result").status_code == 409


def test_scripted_failure_defaults_to_the_last_task(api: Api) -> None:
    pid = api.pipeline()["id"]
    did = api.run(pid, {"_emulator": {"outcome": "FAILED", "seconds": 0.2}})
    api.wait_terminal(pid, did)
    tasks = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks")
    assert [t["status"] for t in tasks] == ["COMPLETED", "FAILED"]


def test_scripted_platform_error(api: Api) -> None:
    pid = api.pipeline()["id"]
    did = api.run(pid, {"_emulator": {"outcome": "ERRORED", "seconds": 0.2}})
    assert api.wait_terminal(pid, did)[-1] == "ERRORED"
    run = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}")
    assert run["errorDetail"] == "Platform error: the execution pod was evicted (emulator outcome ERRORED)"
    tasks = api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks")
    assert [t["status"] for t in tasks] == ["COMPLETED", "ERRORED"]
    assert tasks[1]["errorDetail"].startswith("Platform error")


def test_fanned_out_task_needs_a_node_id(api: Api) -> None:
    source = "@task\ndef a(x): ...\n@pipeline\ndef wf(x):\n    return [a(x), a(x)]\n"
    pid = api.pipeline(source)["id"]
    did = api.run(pid, {"_emulator": {"seconds": 0}})
    ambiguous = api("GET", f"/pipelines/{pid}/dispatches/{did}/tasks/1")
    assert ambiguous.status_code == 409 and "nodeId" in ambiguous.json()["detail"]
    assert api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks/1", params={"nodeId": 1})["nodeId"] == 1
    assert api.ok("GET", f"/pipelines/{pid}/dispatches/{did}/tasks/1/result", params={"node_id": 0})["value"]
