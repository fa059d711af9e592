"""DataRobotPipelinesHook endpoints: exact method, path, query, body and headers; bad input refused before HTTP."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from requests_mock import ANY

from airflow_provider_drpipelines.client.wire import UploadFile, user_agent
from airflow_provider_drpipelines.exceptions import ApiNotFoundError, DataRobotConfigError
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests.unit.hooks.test_hook_support import (
    API,
    EVERYTHING,
    HOOK_LOGGER,
    HOST,
    TOKEN,
    make_hook,
    multipart_parts,
    path_of,
    query_of,
)


@pytest.fixture
def api(requests_mock):
    """Answers every request with a body that satisfies every endpoint's required fields."""
    requests_mock.register_uri(ANY, ANY, json=EVERYTHING)
    return requests_mock


# (call, method, path below /api/v2, query, JSON body or None)
ENDPOINTS = [
    # pipelines
    (lambda h: h.list_pipelines(), "GET", "/pipelines", {}, None),
    (
        lambda h: h.list_pipelines(mode="locked", search="my flow", offset=10, limit=5),
        "GET",
        "/pipelines",
        {"mode": "locked", "search": "my flow", "offset": "10", "limit": "5"},
        None,
    ),
    (lambda h: h.get_pipeline("p1"), "GET", "/pipelines/p1", {}, None),
    (lambda h: h.delete_pipeline("p1"), "DELETE", "/pipelines/p1", {}, None),
    (lambda h: h.lock_pipeline("p1"), "PATCH", "/pipelines/p1/mode", {}, None),
    (lambda h: h.clone_pipeline("p1"), "POST", "/pipelines/p1/clone", {}, {}),
    (lambda h: h.clone_pipeline("p1", name="Copy"), "POST", "/pipelines/p1/clone", {}, {"name": "Copy"}),
    (lambda h: h.get_pipeline_source("p1"), "GET", "/pipelines/p1/source", {}, None),
    (lambda h: h.get_pipeline_source("p1", 3), "GET", "/pipelines/p1/versions/3/source", {}, None),
    (lambda h: h.get_pipeline_task("p1", 2), "GET", "/pipelines/p1/tasks/2", {}, None),
    (lambda h: h.get_pipeline_task("p1", 2, version=3), "GET", "/pipelines/p1/versions/3/tasks/2", {}, None),
    (lambda h: h.get_graph("p1"), "GET", "/pipelines/p1/graph", {}, None),
    (lambda h: h.get_graph("p1", 3), "GET", "/pipelines/p1/versions/3/graph", {}, None),
    # versions
    (lambda h: h.list_versions("p1"), "GET", "/pipelines/p1/versions", {}, None),
    (
        lambda h: h.list_versions("p1", offset=0, limit=100),
        "GET",
        "/pipelines/p1/versions",
        {"offset": "0", "limit": "100"},
        None,
    ),
    (lambda h: h.get_version("p1", 3), "GET", "/pipelines/p1/versions/3", {}, None),
    # inputs
    (lambda h: h.create_input("p1", {"a": 1}), "POST", "/pipelines/p1/inputs", {}, {"payload": {"a": 1}}),
    (
        lambda h: h.create_input("p1", {"a": [1, {"b": None}]}, version=3),
        "POST",
        "/pipelines/p1/versions/3/inputs",
        {},
        {"payload": {"a": [1, {"b": None}]}},
    ),
    (lambda h: h.list_inputs("p1"), "GET", "/pipelines/p1/inputs", {}, None),
    (lambda h: h.list_inputs("p1", 3, limit=5), "GET", "/pipelines/p1/versions/3/inputs", {"limit": "5"}, None),
    (lambda h: h.get_input("p1", "i1"), "GET", "/pipelines/p1/inputs/i1", {}, None),
    (lambda h: h.get_input("p1", "i1", 3), "GET", "/pipelines/p1/versions/3/inputs/i1", {}, None),
    (lambda h: h.update_input("p1", "i1", {"x": 2}), "PATCH", "/pipelines/p1/inputs/i1", {}, {"payload": {"x": 2}}),
    (lambda h: h.delete_input("p1", "i1"), "DELETE", "/pipelines/p1/inputs/i1", {}, None),
    (lambda h: h.delete_input("p1", "i1", 3), "DELETE", "/pipelines/p1/versions/3/inputs/i1", {}, None),
    # runs
    (lambda h: h.create_run("p1", "i1"), "POST", "/pipelines/p1/dispatches", {}, {"inputId": "i1"}),
    (
        lambda h: h.create_run("p1", "i1", 3, image_id="img1"),
        "POST",
        "/pipelines/p1/versions/3/dispatches",
        {},
        {"inputId": "i1", "imageId": "img1"},
    ),
    (lambda h: h.list_runs("p1"), "GET", "/pipelines/p1/dispatches", {}, None),
    (
        lambda h: h.list_runs("p1", 3, offset=20, limit=10),
        "GET",
        "/pipelines/p1/versions/3/dispatches",
        {"offset": "20", "limit": "10"},
        None,
    ),
    (lambda h: h.get_run("p1", "r1"), "GET", "/pipelines/p1/dispatches/r1", {}, None),
    (lambda h: h.get_run("p1", "r1", 3), "GET", "/pipelines/p1/versions/3/dispatches/r1", {}, None),
    (lambda h: h.get_run_status("p1", "r1"), "GET", "/pipelines/p1/dispatches/r1/status", {}, None),
    (lambda h: h.get_run_status("p1", "r1", 3), "GET", "/pipelines/p1/versions/3/dispatches/r1/status", {}, None),
    (lambda h: h.cancel_run("p1", "r1"), "DELETE", "/pipelines/p1/dispatches/r1", {}, None),
    (lambda h: h.cancel_run("p1", "r1", 3), "DELETE", "/pipelines/p1/versions/3/dispatches/r1", {}, None),
    # task executions: keyed by the run alone, no locked variant
    (lambda h: h.get_task_execution("p1", "r1", 2), "GET", "/pipelines/p1/dispatches/r1/tasks/2", {}, None),
    (
        lambda h: h.get_task_execution("p1", "r1", 2, node_id=7),
        "GET",
        "/pipelines/p1/dispatches/r1/tasks/2",
        {"nodeId": "7"},
        None,
    ),
    (lambda h: h.get_task_execution_logs("p1", "r1", 2), "GET", "/pipelines/p1/dispatches/r1/tasks/2/logs", {}, None),
    (
        lambda h: h.get_task_execution_logs("p1", "r1", 2, tail_lines=50, verbosity="all", node_id=0),
        "GET",
        "/pipelines/p1/dispatches/r1/tasks/2/logs",
        {"tail_lines": "50", "verbosity": "all", "nodeId": "0"},
        None,
    ),
    (
        lambda h: h.get_task_execution_durable_logs("p1", "r1", 2),
        "GET",
        "/pipelines/p1/dispatches/r1/tasks/2/logs/stderr",
        {},
        None,
    ),
    (
        lambda h: h.get_task_execution_durable_logs("p1", "r1", 2, "stdout", verbosity="user", node_id=4),
        "GET",
        "/pipelines/p1/dispatches/r1/tasks/2/logs/stdout",
        {"verbosity": "user", "nodeId": "4"},
        None,
    ),
    (
        lambda h: h.get_task_execution_result("p1", "r1", 2, node_id=1),
        "GET",
        "/pipelines/p1/dispatches/r1/tasks/2/result",
        {"nodeId": "1"},
        None,
    ),
    # schedules: flat under the pipeline, snake_case bodies
    (
        lambda h: h.create_schedule("p1", 3, "i1", "img1", 2, "0 9 * * MON-FRI", timezone="Europe/Paris"),
        "POST",
        "/pipelines/p1/schedules",
        {},
        {
            "cron_expression": "0 9 * * MON-FRI",
            "pipeline_version_id": 3,
            "pipeline_input_id": "i1",
            "image_id": "img1",
            "image_version": 2,
            "timezone": "Europe/Paris",
        },
    ),
    (
        lambda h: h.create_schedule("p1", 3, "i1", "img1", 2, "0 * * * *"),
        "POST",
        "/pipelines/p1/schedules",
        {},
        {
            "cron_expression": "0 * * * *",
            "pipeline_version_id": 3,
            "pipeline_input_id": "i1",
            "image_id": "img1",
            "image_version": 2,
        },
    ),
    (lambda h: h.list_schedules("p1", limit=2), "GET", "/pipelines/p1/schedules", {"limit": "2"}, None),
    (lambda h: h.get_schedule("p1", "s1"), "GET", "/pipelines/p1/schedules/s1", {}, None),
    (
        lambda h: h.update_schedule("p1", "s1", cron_expression="*/5 * * * *"),
        "PATCH",
        "/pipelines/p1/schedules/s1",
        {},
        {"cron_expression": "*/5 * * * *"},
    ),
    (
        lambda h: h.update_schedule("p1", "s1", timezone="UTC"),
        "PATCH",
        "/pipelines/p1/schedules/s1",
        {},
        {"timezone": "UTC"},
    ),
    (lambda h: h.delete_schedule("p1", "s1"), "DELETE", "/pipelines/p1/schedules/s1", {}, None),
    # execution images
    (
        lambda h: h.create_image(
            "img", packages=["pandas==2.2"], python_version="3.12", gpu=True, description="for tests"
        ),
        "POST",
        "/pipelines/images",
        {},
        {"name": "img", "pip": ["pandas==2.2"], "pythonVersion": "3.12", "gpu": True, "description": "for tests"},
    ),
    (
        lambda h: h.create_image("img", conda={"channels": ["conda-forge"], "dependencies": ["numpy"]}),
        "POST",
        "/pipelines/images",
        {},
        {"name": "img", "conda": {"channels": ["conda-forge"], "dependencies": ["numpy"]}},
    ),
    (lambda h: h.list_images(offset=5), "GET", "/pipelines/images", {"offset": "5"}, None),
    (lambda h: h.get_image("img1"), "GET", "/pipelines/images/img1", {}, None),
    (
        lambda h: h.update_image("img1", "img", packages=["requests"], conda=["numpy"], gpu=False),
        "PATCH",
        "/pipelines/images/img1",
        {},
        {"name": "img", "pip": ["requests"], "conda": ["numpy"], "gpu": False},
    ),
    (lambda h: h.delete_image("img1"), "DELETE", "/pipelines/images/img1", {}, None),
    (lambda h: h.delete_image_version("img1", 2), "DELETE", "/pipelines/images/img1/versions/2", {}, None),
    (lambda h: h.get_image_version_logs("img1", 2), "GET", "/pipelines/images/img1/versions/2/logs", {}, None),
    # service
    (lambda h: h.get_api_version(), "GET", "/version/", {}, None),
]


@pytest.mark.parametrize(("call", "method", "path", "query", "body"), ENDPOINTS)
def test_endpoint_request(hook, api, call, method, path, query, body):
    assert call(hook) == EVERYTHING
    assert api.call_count == 1
    sent = api.last_request
    assert sent.method == method
    assert path_of(sent) == path
    assert query_of(sent) == query
    if body is None:
        assert not sent.body
        assert "Content-Type" not in sent.headers
    else:
        assert sent.headers["Content-Type"] == "application/json"
        assert json.loads(sent.body) == body


def test_every_public_endpoint_is_covered():
    """A new endpoint added to PipelinesApi must get a row in ENDPOINTS (or a dedicated test)."""
    from airflow_provider_drpipelines.client.endpoints import PipelinesApi

    recorded = set()

    class Recorder(PipelinesApi):
        def _send(self, request):
            recorded.add(request.describe())

    for call, method, path, _, _ in ENDPOINTS:
        call(Recorder())
        assert f"{method} {path}" in recorded
    catalogue = [
        part for part in PipelinesApi.__mro__ if part.__module__.startswith(PipelinesApi.__module__.rpartition(".")[0])
    ]
    names = {n for part in catalogue for n in vars(part) if not n.startswith("_")}
    tested = {re.search(r"h\.(\w+)\(", _source(call)).group(1) for call, *_ in ENDPOINTS}
    # Multipart uploads and the bare-array answer have tests of their own below.
    assert names - tested == {"create_pipeline", "update_pipeline", "list_task_executions"}


def _source(func) -> str:
    import inspect

    return inspect.getsource(func)


def test_headers(hook, api):
    hook.get_pipeline("p1")
    headers = api.last_request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["User-Agent"] == user_agent()
    assert re.fullmatch(r"airflow-provider-drpipelines/\S+ airflow/\S+ python/\d+\.\d+\.\d+", user_agent())
    assert headers["Accept"] == "application/json"
    assert api.last_request.url.startswith(API + "/")


def test_timeout_verify_and_proxies_from_connection(conn_env, clock, api):
    hook = make_hook(conn_env, extra={"timeout": "12", "verify": "false", "proxies": {"https": "http://proxy:3128"}})
    hook.get_pipeline("p1")
    sent = api.last_request
    assert sent.timeout == 12.0
    assert sent.verify is False
    assert sent.proxies.get("https") == "http://proxy:3128"


def test_connection_extras_win_over_the_environment(conn_env, clock, api, monkeypatch, tmp_path):
    import trustme

    corp_ca, env_ca = trustme.CA(), trustme.CA()
    corp_bundle, env_bundle = tmp_path / "corp-ca.pem", tmp_path / "env-ca.pem"
    corp_ca.cert_pem.write_to_path(str(corp_bundle))
    env_ca.cert_pem.write_to_path(str(env_bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(env_bundle))
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy:1")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    make_hook(conn_env, extra={"verify": "false"}).get_pipeline("p1")
    assert api.last_request.verify is False

    hook = make_hook(conn_env, extra={"verify": str(corp_bundle), "proxies": {"https": "http://conn-proxy:2"}})
    hook.get_pipeline("p1")
    assert api.last_request.proxies["https"] == "http://conn-proxy:2"
    assert _ca_subjects(hook) == [_subject(corp_ca)]

    # Without extras the environment decides, by the same rule for both clients.
    hook = make_hook(conn_env)
    hook.get_pipeline("p1")
    assert api.last_request.proxies["https"] == "http://env-proxy:1"
    assert _ca_subjects(hook) == [_subject(env_ca)]


def _ca_subjects(hook: DataRobotPipelinesHook) -> list[Any]:
    return [cert["subject"] for cert in hook.settings.tls_context().get_ca_certs()]


def _subject(ca: Any) -> Any:
    import ssl
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pem") as pem:
        ca.cert_pem.write_to_path(pem.name)
        context = ssl.create_default_context(cafile=pem.name)
        return context.get_ca_certs()[0]["subject"]


def test_default_timeout(hook, api):
    hook.get_run_status("p1", "r1")
    assert api.last_request.timeout == 30.0


def test_get_conn_is_the_pooled_session(hook, api):
    assert hook.get_conn() is hook.get_conn()
    assert hook.get_conn().headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda h: h.get_pipeline("../x"), "/pipelines/..%2Fx"),
        (lambda h: h.get_pipeline("a/b"), "/pipelines/a%2Fb"),
        (lambda h: h.get_run("a/b", "../../images"), "/pipelines/a%2Fb/dispatches/..%2F..%2Fimages"),
        (lambda h: h.get_input("p1", "x?y=1#z"), "/pipelines/p1/inputs/x%3Fy%3D1%23z"),
        (lambda h: h.delete_schedule("p 1", "s%2F"), "/pipelines/p%201/schedules/s%252F"),
        (lambda h: h.get_image("../../pipelines/p1"), "/pipelines/images/..%2F..%2Fpipelines%2Fp1"),
    ],
)
def test_ids_cannot_escape_their_path_segment(hook, api, call, path):
    call(hook)
    assert path_of(api.last_request) == path


def test_delete_answering_204_returns_none(hook, requests_mock):
    requests_mock.delete(f"{API}/pipelines/p1/dispatches/r1", status_code=204)
    requests_mock.delete(f"{API}/pipelines/p1", status_code=204)
    assert hook.cancel_run("p1", "r1") is None
    assert hook.delete_pipeline("p1") is None


def test_list_task_executions_returns_the_bare_array(hook, requests_mock):
    rows = [{"taskId": 1, "nodeId": 0, "name": "a", "status": "COMPLETED"}]
    requests_mock.get(f"{API}/pipelines/p1/dispatches/r1/tasks", json=rows)
    assert hook.list_task_executions("p1", "r1") == rows


# --- multipart ------------------------------------------------------------------------------------


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "my_flow.py"
    path.write_text("from covalent import pipeline\n")
    return path


def test_create_pipeline_multipart(hook, api, source):
    hook.create_pipeline(source, name="My Flow", mode="locked")
    sent = api.last_request
    assert (sent.method, path_of(sent)) == ("POST", "/pipelines")
    assert sent.timeout == 60.0
    assert multipart_parts(sent) == {
        "name": (None, b"My Flow"),
        "mode": (None, b"locked"),
        "file": ("my_flow.py", b"from covalent import pipeline\n"),
    }


def test_create_pipeline_all_fields_and_str_path(hook, api, source):
    hook.create_pipeline(str(source), name="n", description="d", mode="draft", image_id="img1")
    parts = multipart_parts(api.last_request)
    assert {k: v for k, (_, v) in parts.items()} == {
        "name": b"n",
        "description": b"d",
        "mode": b"draft",
        "image_id": b"img1",
        "file": b"from covalent import pipeline\n",
    }


def test_create_pipeline_from_upload_file(hook, api):
    hook.create_pipeline(UploadFile("generated.py", b"x = 1\n"))
    assert multipart_parts(api.last_request) == {"file": ("generated.py", b"x = 1\n")}


def test_update_pipeline_with_source(hook, api, source):
    hook.update_pipeline("p1", source)
    sent = api.last_request
    assert (sent.method, path_of(sent)) == ("PATCH", "/pipelines/p1")
    assert multipart_parts(sent) == {"file": ("my_flow.py", b"from covalent import pipeline\n")}


def test_update_pipeline_metadata_only_has_no_file_part(hook, api):
    hook.update_pipeline("p1", name="Renamed", image_id="img2")
    sent = api.last_request
    assert (sent.method, path_of(sent)) == ("PATCH", "/pipelines/p1")
    assert multipart_parts(sent) == {"name": (None, b"Renamed"), "image_id": (None, b"img2")}


# --- bad input never reaches the API ---------------------------------------------------------------


class Unserialisable:
    pass


BAD_INPUT = [
    (lambda h, src: h.create_input("p1", [1, 2]), "must be a JSON object.*got list"),
    (lambda h, src: h.create_input("p1", "{}"), "must be a JSON object.*got str"),
    (lambda h, src: h.create_input("p1", None), "must be a JSON object.*got NoneType"),
    (lambda h, src: h.create_input("p1", {"a": Unserialisable()}), "not JSON-serialisable"),
    (lambda h, src: h.create_input("p1", {"a": float("nan")}), "not JSON-serialisable"),
    (lambda h, src: h.update_input("p1", "i1", {"when": object()}), "not JSON-serialisable"),
    (lambda h, src: h.create_input("p1", {}, version=0), "positive integer, got 0"),
    (lambda h, src: h.create_input("p1", {}, version="3"), "positive integer, got '3'"),
    (lambda h, src: h.create_input("p1", {}, version=True), "positive integer, got True"),
    (lambda h, src: h.get_run_status("p1", "r1", -1), "positive integer, got -1"),
    (lambda h, src: h.get_version("p1", 1.0), "positive integer, got 1.0"),
    (lambda h, src: h.get_pipeline(""), "pipeline_id must be a non-empty string"),
    (lambda h, src: h.get_pipeline("   "), "pipeline_id must be a non-empty string"),
    (lambda h, src: h.get_pipeline(None), "pipeline_id must be a non-empty string, got None"),
    (lambda h, src: h.get_pipeline(".."), "pipeline_id '..' is not a valid id"),
    (lambda h, src: h.delete_input("p1", ".."), "input_id '..' is not a valid id"),
    (lambda h, src: h.cancel_run("p1", "."), "run_id '.' is not a valid id"),
    (lambda h, src: h.create_run("p1", ""), "input_id must be a non-empty string"),
    (lambda h, src: h.get_run("p1", ""), "run_id must be a non-empty string"),
    (lambda h, src: h.get_schedule("p1", ""), "schedule_id must be a non-empty string"),
    (lambda h, src: h.get_image(""), "image_id must be a non-empty string"),
    (lambda h, src: h.get_task_execution("p1", "r1", 0), "task_id must be a positive integer"),
    (lambda h, src: h.get_task_execution_durable_logs("p1", "r1", 1, "both"), "'stdout' or 'stderr'"),
    (lambda h, src: h.create_schedule("p1", 1, "i1", "img", 0, "* * * * *"), "image_version must be a positive"),
    (lambda h, src: h.update_schedule("p1", "s1"), "needs cron_expression or timezone"),
    (lambda h, src: h.create_image("img"), "needs pip packages or conda"),
    (lambda h, src: h.update_image("img1", "img", packages=[]), "needs pip packages or conda"),
    (lambda h, src: h.update_pipeline("p1"), "needs a source file or at least one field"),
    (lambda h, src: h.create_pipeline(src / "missing.py"), r"missing\.py' is not an existing \.py file"),
    (lambda h, src: h.create_pipeline(src / "notes.txt"), r"notes\.txt' is not an existing \.py file"),
    (lambda h, src: h.create_pipeline(src / "pkg.py"), r"pkg\.py' is not an existing \.py file"),
    (lambda h, src: h.update_pipeline("p1", src / "missing.py"), r"is not an existing \.py file"),
]


@pytest.mark.parametrize(("call", "message"), BAD_INPUT)
def test_bad_input_is_refused_before_any_request(hook, api, tmp_path, call, message):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "pkg.py").mkdir()  # a directory, not a file
    with pytest.raises(DataRobotConfigError, match=message):
        call(hook, tmp_path)
    assert api.call_count == 0


# --- request log -----------------------------------------------------------------------------------


def test_one_debug_line_per_request(hook, requests_mock, caplog):
    requests_mock.get(f"{API}/pipelines/p1/dispatches/r1/status", json={"status": "RUNNING"})
    requests_mock.get(f"{API}/pipelines/p1", status_code=404, json={"detail": "nope"})
    caplog.set_level(logging.DEBUG, logger=HOOK_LOGGER)
    hook.get_run_status("p1", "r1")
    with pytest.raises(ApiNotFoundError):
        hook.get_pipeline("p1")
    lines = [r.getMessage() for r in caplog.records if r.name == HOOK_LOGGER and r.levelno == logging.DEBUG]
    assert len(lines) == 2
    assert re.fullmatch(r"GET /pipelines/p1/dispatches/r1/status -> 200 in \d+ ms", lines[0])
    assert re.fullmatch(r"GET /pipelines/p1 -> 404 in \d+ ms", lines[1])


def test_extras_are_read_without_airflows_secret_masking(monkeypatch):
    """``extra_dejson`` registers every extra value as a secret to mask: a short one (a timeout of 5) logs
    "Skipping masking for a secret as it's too short" in every task log. The hook reads ``extra`` itself."""

    class StoredConnection:
        host, password, port = HOST, TOKEN, None
        extra = '{"timeout": 5, "verify": "false"}'

        @property
        def extra_dejson(self) -> Any:
            raise AssertionError("extra_dejson masks every extra value")

    monkeypatch.setattr(DataRobotPipelinesHook, "get_connection", classmethod(lambda cls, conn_id: StoredConnection()))
    settings = DataRobotPipelinesHook().settings
    assert (settings.timeout, settings.verify) == (5.0, False)
