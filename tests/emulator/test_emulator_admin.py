"""Admin endpoints for reliability tests: faults, the request log, reset, stats; and the UI page."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import requests

from airflow_provider_drpipelines.emulator import EmulatorServer, create_app
from airflow_provider_drpipelines.emulator.faults import RequestLog, is_loopback

from .client import Api


def test_status_fault_with_retry_after_applies_times_then_stops(api: Api, emu: EmulatorServer) -> None:
    rule = emu.add_fault(method="GET", path=r"/version/?$", status=503, retry_after=1.5, times=2)
    assert (rule["status"], rule["times"], rule["when"]) == (503, 2, "before")
    for _ in range(2):
        response = api("GET", "/version")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1.5"
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"detail": "Injected fault"}
    assert api("GET", "/version").status_code == 200
    assert requests.get(f"{emu.base_url}/_emulator/faults", timeout=5).json() == {"data": []}


def test_fault_matches_method_and_path(api: Api, emu: EmulatorServer) -> None:
    emu.add_fault(method="POST", path="/pipelines/?$", status=500, times=0)
    assert api("GET", "/pipelines").status_code == 200
    assert api("POST", "/pipelines", files={"file": ("f.py", b"")}).status_code == 500
    assert api("POST", "/pipelines", files={"file": ("f.py", b"")}).status_code == 500  # times 0: unlimited
    emu.clear_faults()
    assert api("POST", "/pipelines", files={"file": ("f.py", b"")}).status_code == 400


def test_delay_slows_the_answer(api: Api, emu: EmulatorServer) -> None:
    emu.add_fault(path="/version", delay=0.3)
    started = time.monotonic()
    assert api("GET", "/version").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_drop_closes_the_connection_without_a_response(api: Api, emu: EmulatorServer) -> None:
    emu.add_fault(path="/version", drop=True, times=2)
    with pytest.raises(requests.ConnectionError):
        api("GET", "/version")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.get(f"{api.url}/version", headers={"Authorization": "Bearer test-token"}, timeout=5)
    assert [e["status"] for e in emu.request_log(path="/version")] == ["dropped", "dropped"]
    assert api("GET", "/version").status_code == 200


def test_fault_after_handling_changes_state_but_the_client_sees_the_fault(api: Api, emu: EmulatorServer) -> None:
    pid = api.pipeline()["id"]
    iid = api.input(pid)
    emu.add_fault(method="POST", path="/dispatches/?$", drop=True, when="after")
    with pytest.raises(requests.ConnectionError):
        api("POST", f"/pipelines/{pid}/dispatches", json={"inputId": iid})
    assert api.ok("GET", f"/pipelines/{pid}/dispatches")["totalCount"] == 1  # the run was created
    emu.add_fault(method="POST", path="/dispatches/?$", status=502, html=True, when="after")
    proxy_page = api("POST", f"/pipelines/{pid}/dispatches", json={"inputId": iid})
    assert proxy_page.status_code == 502 and proxy_page.headers["content-type"] == "text/html"
    assert "502 Bad Gateway" in proxy_page.text
    assert emu.stats()["runs"] == 2


def test_invalid_fault_rules_are_422(emu: EmulatorServer) -> None:
    admin = f"{emu.base_url}/_emulator/faults"
    assert requests.post(admin, json={"path": "/x"}, timeout=5).status_code == 422  # does nothing
    assert requests.post(admin, json={"path": "(", "status": 500}, timeout=5).status_code == 422
    assert requests.post(admin, json={"status": 5000}, timeout=5).status_code == 422


def test_request_log_lists_and_filters_api_requests(api: Api, emu: EmulatorServer) -> None:
    api("GET", "/version")
    api("GET", "/pipelines/")
    requests.get(f"{api.url}/pipelines", timeout=5)
    entries = emu.request_log()
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/api/v2/version", 200),
        ("GET", "/api/v2/pipelines/", 200),
        ("GET", "/api/v2/pipelines", 401),
    ]
    assert entries[0]["time"].endswith("Z") and entries[0]["durationMs"] >= 0
    assert len(emu.request_log(path="/pipelines/?$", method="get")) == 2
    assert requests.delete(f"{emu.base_url}/_emulator/requests", timeout=5).status_code == 204
    assert emu.request_log() == []


def test_request_log_is_bounded() -> None:
    log = RequestLog()
    for n in range(10_050):
        log.record("GET", f"/p/{n}", 200, 0.0, 0.001)
    entries = log.query(None, None)
    assert len(entries) == 10_000 and entries[-1]["path"] == "/p/10049" and entries[0]["path"] == "/p/50"
    assert log.served == 10_050


def test_reset_and_stats(api: Api, emu: EmulatorServer) -> None:
    pid = api.pipeline()["id"]
    api.run(pid)
    emu.add_fault(path="/nothing", status=500)
    assert emu.stats() == {"pipelines": 1, "inputs": 1, "runs": 1, "schedules": 0, "images": 0, "requests": 3}
    emu.reset()
    assert emu.stats() == {"pipelines": 0, "inputs": 0, "runs": 0, "schedules": 0, "images": 0, "requests": 0}
    assert requests.get(f"{emu.base_url}/_emulator/faults", timeout=5).json() == {"data": []}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True), ("localhost", True),
     ("10.0.0.5", False), ("::ffff:10.0.0.5", False), ("example.com", False), (None, False)],
)  # fmt: skip
def test_loopback_check(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_admin_refuses_remote_clients() -> None:
    async def ask(client: tuple[str, int]) -> int:
        transport = httpx.ASGITransport(app=create_app(), client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
            return (await http.post("/_emulator/reset")).status_code

    assert asyncio.run(ask(("10.1.2.3", 5000))) == 403
    assert asyncio.run(ask(("127.0.0.1", 5000))) == 204


def test_ui_page_shows_the_run_without_a_token(api: Api, emu: EmulatorServer) -> None:
    pid = api.pipeline()["id"]
    did = api.run(pid, {"_emulator": {"seconds": 0}})
    page = requests.get(f"{emu.base_url}/pipelines/{pid}/runs/{did}", timeout=5)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert pid in page.text and did in page.text and 'id="status">COMPLETED</span>' in page.text
    assert page.text.count('<tr class="task">') == 2 and 'http-equiv="refresh"' not in page.text
    missing = requests.get(f"{emu.base_url}/pipelines/{pid}/runs/000000000000000000000000", timeout=5)
    assert missing.status_code == 404 and "not found" in missing.text


def test_ui_page_shows_a_failed_task_with_its_error_and_log_tail(api: Api, emu: EmulatorServer) -> None:
    pid = api.pipeline()["id"]
    did = api.run(pid, {"note": "<b>&", "_emulator": {"seconds": 0, "outcome": "FAILED", "failing_task": "load"}})
    text = requests.get(f"{emu.base_url}/pipelines/{pid}/runs/{did}", timeout=5).text
    assert 'id="status">FAILED</span>' in text
    assert "Task &#x27;load&#x27; failed: ValueError: scripted failure" in text
    assert "Traceback (most recent call last):" in text, "the failed task's log tail"
    assert "&lt;b&gt;&amp;" in text and "<b>&" not in text, "the input payload is escaped"


def test_ui_page_refreshes_while_the_run_is_going(api: Api, emu: EmulatorServer) -> None:
    pid = api.pipeline()["id"]
    did = api.run(pid, {"_emulator": {"seconds": 60}})
    text = requests.get(f"{emu.base_url}/pipelines/{pid}/runs/{did}", timeout=5).text
    assert '<meta http-equiv="refresh"' in text and 'id="status">PENDING</span>' in text
    assert "No task has started yet" in text
