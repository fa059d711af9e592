"""Wire tests: schedules (§4.4) and execution images (§4.5)."""

from __future__ import annotations

import pytest

from airflow_provider_drpipelines.emulator.cron import cron_error

from .client import Api


def image(api: Api, name: str = "pandas") -> dict:
    created: dict = api.ok("POST", "/pipelines/images", 201, json={"name": name, "pip": ["pandas==2.2"]})
    return created


def test_image_is_creating_then_ready_with_versions_and_logs(api: Api) -> None:
    created = image(api)
    iid = created["id"]
    assert (created["latestVersion"], created["versions"][0]["status"]) == (1, "CREATING")
    assert created["versions"][0]["definition"]["packages"] == ["pandas==2.2"]
    assert created["versions"][0]["imageUri"] is None
    assert api("GET", f"/pipelines/images/{iid}/versions/1/logs").status_code == 409
    api.emu.advance(0.35)
    ready = api.ok("GET", f"/pipelines/images/{iid}/")
    assert ready["versions"][0]["status"] == "READY" and ready["versions"][0]["imageUri"]
    assert "pip install pandas==2.2" in api.ok("GET", f"/pipelines/images/{iid}/versions/1/logs")["logs"]
    summary = api.ok("GET", "/pipelines/images")["data"][0]
    assert (summary["id"], summary["latestVersion"], summary["latestStatus"]) == (iid, 1, "READY")


def test_image_request_keys_of_both_clients(api: Api) -> None:
    cli = api.ok(
        "POST", "/pipelines/images", 201,
        json={"name": "cli", "pip": ["x"], "pythonVersion": "3.11", "baseImage": "3.11", "gpu": True},
    )  # fmt: skip
    sdk = api.ok(
        "POST", "/pipelines/images", 201,
        json={"name": "sdk", "packages": ["x"], "python_version": "3.11", "python_base_image": "img:1"},
    )  # fmt: skip
    cli_def, sdk_def = cli["versions"][0]["definition"], sdk["versions"][0]["definition"]
    assert (cli_def["pythonVersion"], cli_def["pythonBaseImage"], cli_def["gpu"]) == ("3.11", None, True)
    assert (sdk_def["packages"], sdk_def["pythonVersion"], sdk_def["pythonBaseImage"]) == (["x"], "3.11", "img:1")
    assert api("POST", "/pipelines/images", json={"name": "bad", "pythonVersion": "2.7"}).status_code == 422
    assert api("POST", "/pipelines/images", json={"name": "cli"}).status_code == 409


def test_image_replace_and_soft_deletes(api: Api) -> None:
    iid = image(api)["id"]
    replaced = api.ok("PATCH", f"/pipelines/images/{iid}", json={"name": "ignored", "packages": ["numpy"]})
    assert [v["version"] for v in replaced["versions"]] == [2, 1]
    assert (replaced["name"], replaced["versions"][0]["definition"]["name"]) == ("pandas", "pandas")
    assert api("PATCH", f"/pipelines/images/{iid}", json={"packages": ["numpy"]}).status_code == 422
    assert api("DELETE", f"/pipelines/images/{iid}").status_code == 204  # drops v2
    assert api.ok("GET", f"/pipelines/images/{iid}")["latestVersion"] == 1
    assert api("DELETE", f"/pipelines/images/{iid}/versions/2").status_code == 404
    response = api("DELETE", f"/pipelines/images/{iid}/versions/1")
    assert (response.status_code, response.content) == (204, b"")
    assert api("GET", f"/pipelines/images/{iid}").status_code == 404  # the last version took the image along


def test_runs_snapshot_the_image(api: Api) -> None:
    iid = image(api)["id"]
    pid = api.pipeline(image_id=iid)["id"]
    assert api.ok("GET", f"/pipelines/{pid}")["linkedImage"]["imageId"] == iid
    run = api.ok("POST", f"/pipelines/{pid}/dispatches", 201, json={"input_id": api.input(pid)})
    assert (run["imageId"], run["imageVersion"]) == (iid, 1)


def schedule_body(pid: str, iid: str, **overrides: object) -> dict:
    return {"cron_expression": "0 9 * * MON-FRI", "pipeline_version_id": 1, "pipeline_input_id": iid} | overrides


def test_schedule_crud(api: Api) -> None:
    pid = api.locked()
    iid = api.input(pid, version=1)
    image_id = image(api)["id"]
    body = schedule_body(pid, iid, timezone="Europe/Paris", image_id=image_id, image_version=1)
    created = api.ok("POST", f"/pipelines/{pid}/schedules", 201, json=body)
    assert created | {"id": None, "createdAt": None, "updatedAt": None} == {
        "id": None,
        "pipelineId": pid,
        "version": 1,
        "imageId": image_id,
        "imageVersion": 1,
        "cronExpression": "0 9 * * MON-FRI",
        "timezone": "Europe/Paris",
        "status": "ACTIVE",
        "createdAt": None,
        "updatedAt": None,
    }
    sid = created["id"]
    assert [s["id"] for s in api.ok("GET", f"/pipelines/{pid}/schedules")["data"]] == [sid]
    patched = api.ok("PATCH", f"/pipelines/{pid}/schedules/{sid}", json={"cronExpression": "*/5 * * * *"})
    assert (patched["cronExpression"], patched["timezone"]) == ("*/5 * * * *", "Europe/Paris")
    assert api.ok("GET", f"/pipelines/{pid}/schedules/{sid}/")["cronExpression"] == "*/5 * * * *"
    assert api("PATCH", f"/pipelines/{pid}/schedules/{sid}", json={"timezone": "Mars/Olympus"}).status_code == 422
    response = api("DELETE", f"/pipelines/{pid}/schedules/{sid}")
    assert (response.status_code, response.content) == (204, b"")
    assert api("GET", f"/pipelines/{pid}/schedules/{sid}").status_code == 404


def test_schedules_need_a_locked_version_and_valid_cron_and_timezone(api: Api) -> None:
    draft = api.pipeline()["id"]
    draft_input = api.input(draft)
    assert api("POST", f"/pipelines/{draft}/schedules", json=schedule_body(draft, draft_input)).status_code == 409
    pid = api.locked()
    iid = api.input(pid, version=1)
    for bad in ({"cron_expression": "0 9 * *"}, {"cron_expression": "61 * * * *"}, {"timezone": "Nowhere/City"}):
        response = api("POST", f"/pipelines/{pid}/schedules", json=schedule_body(pid, iid, **bad))
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][-1] in ("cron_expression", "timezone")
    missing_version = schedule_body(pid, iid, pipeline_version_id=5)
    assert api("POST", f"/pipelines/{pid}/schedules", json=missing_version).status_code == 404
    missing_input = schedule_body(pid, "000000000000000000000000")
    assert api("POST", f"/pipelines/{pid}/schedules", json=missing_input).status_code == 404


@pytest.mark.parametrize("expression", ["* * * * *", "0 0 1 1 0", "*/15 0-6,18-23 1-31/2 JAN-DEC SUN-SAT", "0 9 * * 7"])
def test_valid_cron_expressions(expression: str) -> None:
    assert cron_error(expression) is None


INVALID_CRON = ["", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8"]


@pytest.mark.parametrize("expression", [*INVALID_CRON, "5-1 * * * *", "*/0 * * * *", "x * * * *"])
def test_invalid_cron_expressions(expression: str) -> None:
    assert cron_error(expression)


def test_an_image_with_an_invalid_requirement_ends_error_with_pips_log(api: Api) -> None:
    iid = api.ok("POST", "/pipelines/images", 201, json={"name": "broken", "pip": ["pandas==="]})["id"]
    assert api.ok("GET", f"/pipelines/images/{iid}")["versions"][0]["status"] == "CREATING"
    api.emu.advance(0.35)
    image = api.ok("GET", f"/pipelines/images/{iid}")
    assert image["versions"][0]["status"] == "ERROR"
    assert image["versions"][0]["errorDetail"] == "ERROR: Invalid requirement: 'pandas==='"
    assert image["versions"][0]["imageUri"] is None
    logs = api.ok("GET", f"/pipelines/images/{iid}/versions/1/logs")["logs"]
    assert "Invalid requirement: 'pandas==='" in logs and "non-zero code" in logs
