"""Wire tests: auth, conventions (§1), pipelines and versions (§4.1)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_drpipelines.emulator import EmulatorServer

from .client import Api, pipeline_source

HEX24 = re.compile(r"^[0-9a-f]{24}$")
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_health_needs_no_token_and_version_needs_one(api: Api, emu: EmulatorServer) -> None:
    assert requests.get(f"{emu.base_url}/health", timeout=5).json() == {"status": "ok"}
    assert api.ok("GET", "/version/") == {"major": 2, "minor": 37, "versionString": "2.37.0"}


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Token wrong", "Basic dGVzdC10b2tlbg==", "test-token"])
def test_missing_or_wrong_token_is_401_json(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = requests.get(f"{api.url}/pipelines", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert "detail" in response.json()


@pytest.mark.parametrize("scheme", ["Bearer", "Token"])
def test_bearer_and_token_schemes_are_both_accepted(api: Api, scheme: str) -> None:
    response = requests.get(f"{api.url}/pipelines", headers={"Authorization": f"{scheme} test-token"}, timeout=5)
    assert response.status_code == 200


def test_create_returns_draft_v1_pending(api: Api) -> None:
    created = api.pipeline(description="nightly")
    assert HEX24.match(created["id"])
    assert RFC3339_Z.match(created["createdAt"])
    assert created | {"id": None, "createdAt": None} == {
        "id": None,
        "name": "My Workflow",
        "description": "nightly",
        "version": 1,
        "status": "PENDING",
        "mode": "draft",
        "taskNames": ["load", "train"],
        "imageId": None,
        "createdAt": None,
    }


def test_create_with_name_and_mode_locked(api: Api) -> None:
    created = api.pipeline(name="Custom", mode="locked")
    assert (created["name"], created["mode"]) == ("Custom", "locked")
    assert api("PATCH", f"/pipelines/{created['id']}/mode").status_code == 409


@pytest.mark.parametrize(
    ("files", "status", "detail"),
    [
        ({"file": ("bad.py", b"def broken(:\n")}, 400, "invalid Python in bad.py, line 1"),
        ({"file": ("bad.py", b"def plain():\n    pass\n")}, 400, "no @pipeline function found in bad.py"),
        (None, 422, None),
    ],
)
def test_create_refuses_unusable_uploads(api: Api, files: dict | None, status: int, detail: str | None) -> None:
    response = api("POST", "/pipelines", files=files, data={"name": "x"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    if detail:
        assert response.json()["detail"].startswith(detail)


def test_get_pipeline_detail(api: Api) -> None:
    pid = api.pipeline()["id"]
    detail = api.ok("GET", f"/pipelines/{pid}")
    assert detail["mode"] == "draft" and detail["isActive"] is True
    assert detail["taskNames"] == ["load", "train"]
    assert [(v["version"], v["status"], v["pythonVersion"]) for v in detail["versions"]] == [(1, "PENDING", "3.12")]
    assert RFC3339_Z.match(detail["updatedAt"])
    assert api("GET", "/pipelines/000000000000000000000000").json() == {
        "detail": "Pipeline 000000000000000000000000 not found"
    }


def test_update_appends_versions_and_checks_the_pipeline_name(api: Api) -> None:
    pid = api.pipeline()["id"]
    files = {"file": ("flow.py", pipeline_source(tasks=("load", "train", "publish")).encode())}
    updated = api.ok("PATCH", f"/pipelines/{pid}", files=files)
    assert (updated["version"], updated["taskNames"]) == (2, ["load", "train", "publish"])
    mismatch = api("PATCH", f"/pipelines/{pid}", files={"file": ("o.py", pipeline_source("other").encode())})
    assert mismatch.status_code == 400 and "name mismatch" in mismatch.json()["detail"]
    versions = api.ok("GET", f"/pipelines/{pid}/versions")
    assert [v["version"] for v in versions["data"]] == [2, 1]
    assert api.ok("GET", f"/pipelines/{pid}/versions/1")["taskNames"] == ["load", "train"]
    assert api("GET", f"/pipelines/{pid}/versions/9").status_code == 404


def test_metadata_only_update_keeps_the_version(api: Api) -> None:
    pid = api.pipeline()["id"]
    # multipart with form fields only, no file part (the SDK's metadata-only PATCH)
    updated = api.ok("PATCH", f"/pipelines/{pid}", files={"name": (None, "Renamed"), "description": (None, "d")})
    assert (updated["name"], updated["description"], updated["version"]) == ("Renamed", "d", 1)


def test_lock_then_changes_are_409(api: Api) -> None:
    pid = api.pipeline()["id"]
    locked = api.ok("PATCH", f"/pipelines/{pid}/mode")
    assert (locked["mode"], locked["version"]) == ("locked", 1)
    assert api("PATCH", f"/pipelines/{pid}/mode").json()["detail"] == f"Pipeline {pid} is already locked"
    assert api("PATCH", f"/pipelines/{pid}", files={"name": (None, "x")}).status_code == 409


def test_delete_is_204_empty_then_404(api: Api) -> None:
    pid = api.pipeline()["id"]
    response = api("DELETE", f"/pipelines/{pid}")
    assert (response.status_code, response.content) == (204, b"")
    assert api("GET", f"/pipelines/{pid}").status_code == 404
    assert api("DELETE", f"/pipelines/{pid}").status_code == 404


def test_clone_without_body_empty_object_or_name(api: Api) -> None:
    pid = api.pipeline(description="desc")["id"]
    api.input(pid, {"data": {"copied": True}})
    # The SDK's clone: no body and no Content-Type at all.
    first = requests.post(f"{api.url}/pipelines/{pid}/clone", headers={"Authorization": "Token test-token"}, timeout=5)
    assert first.status_code == 201, first.text
    assert (first.json()["name"], first.json()["mode"], first.json()["description"]) == (
        "Clone of My Workflow", "draft", "desc",
    )  # fmt: skip
    assert api.ok("POST", f"/pipelines/{pid}/clone", 201, json={})["name"] == "Clone of My Workflow (2)"
    assert api.ok("POST", f"/pipelines/{pid}/clone", 201, json={"name": "Mine"})["name"] == "Mine"
    inputs = api.ok("GET", f"/pipelines/{first.json()['id']}/inputs")["data"]
    assert [i["payload"] for i in inputs] == [{"data": {"copied": True}}]
    assert api("POST", "/pipelines/p-1/clone").json() == {"detail": "Pipeline p-1 not found"}


def link(url: str) -> tuple[str, dict[str, list[str]]]:
    """An absolute page link split into its address and query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query)


def test_list_envelope_pagination_filters_and_newest_first(api: Api) -> None:
    ids = [api.pipeline(name=f"Flow {n}")["id"] for n in range(5)]
    api.ok("PATCH", f"/pipelines/{ids[0]}/mode")
    first = api.ok("GET", "/pipelines", params={"limit": 2})
    assert [p["id"] for p in first["data"]] == ids[::-1][:2]
    assert (first["totalCount"], first["count"], first["previous"]) == (5, 2, None)
    assert link(first["next"]) == (f"{api.url}/pipelines", {"limit": ["2"], "offset": ["2"]})
    second = requests.get(first["next"], headers=api.session.headers, timeout=5).json()
    assert [p["id"] for p in second["data"]] == ids[::-1][2:4]
    assert link(second["previous"]) == (f"{api.url}/pipelines", {"limit": ["2"], "offset": ["0"]})
    last = api.ok("GET", "/pipelines", params={"offset": 4, "limit": 2})
    assert (last["count"], last["next"]) == (1, None)
    assert [p["id"] for p in api.ok("GET", "/pipelines", params={"mode": "locked"})["data"]] == [ids[0]]
    assert api.ok("GET", "/pipelines", params={"search": "flow 3"})["totalCount"] == 1
    item = first["data"][0]
    assert set(item) >= {"id", "name", "mode", "isActive", "latestVersion", "createdAt", "updatedAt"}
    assert api("GET", "/pipelines", params={"limit": 0}).status_code == 422


def test_every_route_answers_with_and_without_trailing_slash(api: Api) -> None:
    pid = api.pipeline()["id"]
    for path in ("/pipelines", f"/pipelines/{pid}", f"/pipelines/{pid}/graph", "/version", "/pipelines/images"):
        for form in (path, path + "/"):
            response = api("GET", form)
            assert response.status_code == 200, (form, response.status_code)
    assert api("PATCH", f"/pipelines/{pid}/mode/").status_code == 200


@pytest.mark.parametrize("locked", [False, True])
def test_graph_source_and_task_in_both_scopes(api: Api, locked: bool) -> None:
    pid = api.pipeline()["id"]
    scope = ""
    if locked:
        api.ok("PATCH", f"/pipelines/{pid}/mode")
        api.input(pid, {"data": {"latest": 1}}, version=1)
        scope = "/versions/1"
    graph = api.ok("GET", f"/pipelines/{pid}{scope}/graph")
    assert graph["pipeline"] == {"name": "My Workflow", "pythonVersion": "3.12"}
    assert [(n["id"], n["type"], n["name"], n["taskId"]) for n in graph["nodes"]] == [
        (0, "function", "load", 1),
        (1, "function", "train", 2),
    ]
    assert [(e["source"], e["target"], e["edgeName"]) for e in graph["edges"]] == [(0, 1, "data")]
    assert api.ok("GET", f"/pipelines/{pid}{scope}/source")["source"] == pipeline_source()
    task = api.ok("GET", f"/pipelines/{pid}{scope}/tasks/2")
    assert task["id"] == 2 and task["name"] == "train" and task["pipelineId"] == pid
    assert task["parameters"] == [{"name": "data", "annotation": "dict"}, {"name": "factor", "annotation": "float"}]
    assert task["source"].startswith("@dr.task\ndef train(")
    assert task["versionId"] == (1 if locked else None)
    assert task["inputs"] == ({"data": {"latest": 1}} if locked else None)
    assert api("GET", f"/pipelines/{pid}{scope}/tasks/7").json() == {"detail": "task not found"}


def test_locked_scope_needs_a_locked_pipeline_and_an_existing_version(api: Api) -> None:
    pid = api.pipeline()["id"]
    draft = api("GET", f"/pipelines/{pid}/versions/1/graph")
    assert draft.status_code == 409
    assert draft.json()["detail"] == f"Pipeline {pid} is not locked; version 1 cannot be used in locked scope"
    api.ok("PATCH", f"/pipelines/{pid}/mode")
    assert api("GET", f"/pipelines/{pid}/versions/2/graph").status_code == 404
    assert api("GET", f"/pipelines/{pid}/versions/x/graph").status_code == 422


def test_unknown_route_is_json_404(api: Api) -> None:
    response = api("GET", "/nothing/here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"


def _version_status(api: Api, pid: str, number: int = 1) -> dict[str, Any]:
    """The version once its tracing is over (PENDING for the emulator's version_seconds, 0.3 s)."""
    api.emu.advance(0.35)
    return dict(api.ok("GET", f"/pipelines/{pid}/versions/{number}"))


def test_a_version_is_pending_then_ready(api: Api) -> None:
    pid = api.pipeline()["id"]
    assert api.ok("GET", f"/pipelines/{pid}/versions/1")["status"] == "PENDING"
    version = _version_status(api, pid)
    assert (version["status"], version["errorDetail"]) == ("READY", None)


def test_a_version_whose_source_does_not_compile_fails_and_cannot_run(api: Api) -> None:
    pid = api.locked(pipeline_source() + "\nreturn None\n")  # parses (so it uploads), but does not compile
    version = _version_status(api, pid)
    assert version["status"] == "FAILED"
    assert version["errorDetail"] == "SyntaxError: 'return' outside function (flow.py, line 18)"
    iid = api.input(pid, version=1)
    refused = api("POST", f"/pipelines/{pid}/versions/1/dispatches", json={"inputId": iid})
    assert refused.status_code == 409 and "FAILED" in refused.json()["detail"]
