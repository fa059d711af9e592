"""ConnectionSettings.from_connection: endpoint forms, extras, and the connection defined through env vars."""

from __future__ import annotations

import json

import pytest

from airflow_provider_drpipelines.connection import (
    DEFAULT_TIMEOUT_SECONDS,
    EXTRA_FIELDS,
    ConnectionSettings,
    provider_conn_fields,
    provider_ui_field_behaviour,
)
from airflow_provider_drpipelines.exceptions import DataRobotConfigError
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

TOKEN = "tok-0123456789"


def settings(host: str | None = "https://app.datarobot.com", port: int | None = None, **extra: object):
    return ConnectionSettings.from_connection("my_conn", host, TOKEN, port, dict(extra))


@pytest.mark.parametrize(
    ("host", "port", "api_url", "ui_url"),
    [
        ("https://app.datarobot.com", None, "https://app.datarobot.com/api/v2", "https://app.datarobot.com"),
        ("https://app.datarobot.com/", None, "https://app.datarobot.com/api/v2", "https://app.datarobot.com"),
        ("https://app.datarobot.com/api/v2", None, "https://app.datarobot.com/api/v2", "https://app.datarobot.com"),
        ("https://app.datarobot.com/api/v2/", None, "https://app.datarobot.com/api/v2", "https://app.datarobot.com"),
        ("  https://app.datarobot.com  ", None, "https://app.datarobot.com/api/v2", "https://app.datarobot.com"),
        ("app.datarobot.com", None, "https://app.datarobot.com/api/v2", "https://app.datarobot.com"),
        ("http://127.0.0.1", 8100, "http://127.0.0.1:8100/api/v2", "http://127.0.0.1:8100"),
        # A port written in the host wins over the port field.
        ("http://127.0.0.1:9000/api/v2", 8100, "http://127.0.0.1:9000/api/v2", "http://127.0.0.1:9000"),
        ("https://x/prefix/api/v2", None, "https://x/prefix/api/v2", "https://x/prefix"),
        ("https://x/prefix", None, "https://x/prefix/api/v2", "https://x/prefix"),
        (None, None, "https://app.datarobot.com/api/v2", "https://app.datarobot.com"),
    ],
)
def test_endpoint_forms(host, port, api_url, ui_url):
    s = settings(host, port)
    assert s.api_url == api_url
    assert s.ui_url == ui_url
    assert s.url("/pipelines") == api_url + "/pipelines"


@pytest.mark.parametrize("host", ["ftp://x", "not a url", "https://", "file:///etc/passwd", "https://x:abc"])
def test_bad_endpoint_is_a_config_error(host):
    with pytest.raises(DataRobotConfigError, match=r"my_conn.*is not an http\(s\) URL") as info:
        settings(host)
    assert repr(host) in str(info.value)


@pytest.mark.parametrize("password", [None, ""])
def test_missing_token_is_a_config_error(password):
    with pytest.raises(DataRobotConfigError, match=r"'my_conn' has no API token.*password field"):
        ConnectionSettings.from_connection("my_conn", "https://app.datarobot.com", password, None, {})


def test_test_button_without_token_asks_for_the_token_again(conn_env):
    """Airflow 2's Edit form tests a blanked password under a random 8-character id exported as an env var."""
    conn_id = conn_env("aB3dE9xQ", host="http://127.0.0.1:8100", password=None)
    ok, message = DataRobotPipelinesHook(datarobot_pipelines_conn_id=conn_id).test_connection()
    assert not ok
    assert message.startswith("No API token to test with: enter the DataRobot API token in the API token field again")
    assert conn_id not in message


def test_defaults():
    s = settings()
    assert s.verify is True
    assert s.timeout == DEFAULT_TIMEOUT_SECONDS
    assert s.proxies == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        (True, True),
        (False, False),
        ("", True),
    ],
)
def test_verify_extra(value, expected):
    assert settings(verify=value).verify is expected


def test_verify_extra_ca_bundle_path(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert settings(verify=str(bundle)).verify == str(bundle)


def test_verify_extra_missing_path(tmp_path):
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(DataRobotConfigError, match=r"'verify'.*neither true/false nor the path of an existing CA"):
        settings(verify=missing)


@pytest.mark.parametrize(
    ("value", "expected"), [("12.5", 12.5), (7, 7.0), ("60", 60.0), (None, DEFAULT_TIMEOUT_SECONDS)]
)
def test_timeout_extra(value, expected):
    assert settings(timeout=value).timeout == expected


@pytest.mark.parametrize("value", ["-1", -3, 0, "abc", "NaN-ish", [1]])
def test_bad_timeout_extra(value):
    with pytest.raises(DataRobotConfigError, match="'timeout' must be a positive number of seconds"):
        settings(timeout=value)


@pytest.mark.parametrize(
    "value",
    [
        {"https": "http://proxy:3128", "http": "http://proxy:3128"},
        json.dumps({"https": "http://proxy:3128", "http": "http://proxy:3128"}),
    ],
)
def test_proxies_extra(value):
    assert settings(proxies=value).proxies == (("http", "http://proxy:3128"), ("https", "http://proxy:3128"))


@pytest.mark.parametrize("value", ["http://proxy:3128", "{not json", "[1, 2]", {"https": 3128}, ["http://p"]])
def test_bad_proxies_extra(value):
    with pytest.raises(DataRobotConfigError, match=r"'proxies' must be a JSON object of scheme -> http\(s\) proxy URL"):
        settings(proxies=value)


def test_ui_url_extra_is_used_by_run_url():
    s = settings(ui_url="https://ui.example.com/")
    assert s.ui_url == "https://ui.example.com"
    assert s.api_url == "https://app.datarobot.com/api/v2"
    assert s.run_url("p 1", "r/2") == "https://ui.example.com/pipelines/p%201/runs/r%2F2"


def test_run_url_defaults_to_endpoint():
    assert settings("https://x/prefix/api/v2").run_url("p1", "r1") == "https://x/prefix/pipelines/p1/runs/r1"


def test_bad_ui_url_extra():
    with pytest.raises(DataRobotConfigError, match="not an http"):
        settings(ui_url="ftp://ui")


def test_prefixed_extra_keys(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    s = settings(
        **{
            "extra__datarobot_pipelines__verify": str(bundle),
            "extra__datarobot_pipelines__timeout": "5",
            "extra__datarobot_pipelines__proxies": '{"https": "http://p:1"}',
            "extra__datarobot_pipelines__ui_url": "https://ui.example.com",
        }
    )
    assert (s.verify, s.timeout, s.proxies, s.ui_url) == (
        str(bundle),
        5.0,
        (("https", "http://p:1"),),
        "https://ui.example.com",
    )


def test_plain_extra_key_wins_over_prefixed():
    s = settings(timeout="5", extra__datarobot_pipelines__timeout="9")
    assert s.timeout == 5.0
    # An empty plain value (what an old UI form saves) falls through to the prefixed key.
    assert settings(timeout="", extra__datarobot_pipelines__timeout="9").timeout == 9.0


def test_token_not_in_repr():
    s = settings()
    assert TOKEN not in repr(s)
    assert s.token == TOKEN


def test_settings_are_hashable_and_compare_by_value():
    assert settings(proxies={"https": "http://p:1"}) == settings(proxies='{"https": "http://p:1"}')
    assert len({settings(), settings(), settings(timeout=5)}) == 2


def test_extra_fields_have_conn_fields_and_behaviour():
    fields = provider_conn_fields()
    assert set(fields) == {f.name for f in EXTRA_FIELDS} == {"verify", "timeout", "proxies", "ui_url"}
    assert fields["timeout"]["schema"] == {"type": ["number", "null"]}
    behaviour = provider_ui_field_behaviour()
    assert set(behaviour) == {"hidden-fields", "relabeling", "placeholders"}
    assert behaviour["relabeling"] == {"host": "DataRobot endpoint", "password": "API token"}


# --- the connection as Airflow hands it to the hook ------------------------------------------------


def test_hook_settings_from_json_env_var(conn_env):
    conn_env(
        host="http://127.0.0.1",
        port=8100,
        password=TOKEN,
        extra={"timeout": "5", "verify": "false", "ui_url": "http://localhost:9999"},
    )
    s = DataRobotPipelinesHook().settings
    assert s == ConnectionSettings(
        api_url="http://127.0.0.1:8100/api/v2",
        token=TOKEN,
        ui_url="http://localhost:9999",
        verify=False,
        timeout=5.0,
    )


def test_hook_settings_from_named_connection(conn_env):
    conn_id = conn_env("my_dr", host="https://dr.example.com/api/v2/")
    hook = DataRobotPipelinesHook(datarobot_pipelines_conn_id=conn_id)
    assert hook.settings.api_url == "https://dr.example.com/api/v2"


def test_hook_settings_missing_token(conn_env):
    conn_env(password=None)
    with pytest.raises(DataRobotConfigError, match="no API token"):
        _ = DataRobotPipelinesHook().settings


@pytest.mark.parametrize(
    ("uri", "api_url", "timeout"),
    [
        # The endpoint URL percent-encoded as the URI's host: the form that keeps scheme, port and path.
        (
            "datarobot-pipelines://:TOKEN-0123456789@https%3A%2F%2Fapp.datarobot.com",
            "https://app.datarobot.com/api/v2",
            30,
        ),
        (
            "datarobot-pipelines://:TOKEN-0123456789@http%3A%2F%2F127.0.0.1%3A8100%2Fapi%2Fv2?timeout=5",
            "http://127.0.0.1:8100/api/v2",
            5,
        ),
        # A bare host name means https; the port is taken from the URI.
        ("datarobot-pipelines://:TOKEN-0123456789@app.datarobot.com", "https://app.datarobot.com/api/v2", 30),
        ("datarobot-pipelines://:TOKEN-0123456789@dr.internal:8443", "https://dr.internal:8443/api/v2", 30),
    ],
)
def test_hook_settings_from_uri_env_var(monkeypatch, uri, api_url, timeout):
    monkeypatch.setenv("AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT", uri)
    s = DataRobotPipelinesHook().settings
    assert s.api_url == api_url
    assert s.token == "TOKEN-0123456789"
    assert s.timeout == timeout


def test_uri_path_is_not_an_endpoint_prefix(monkeypatch):
    """Airflow reads a plain URI's path as the (hidden) schema field, so a proxy prefix needs the encoded form."""
    monkeypatch.setenv("AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT", "datarobot-pipelines://:TOKEN-0123456789@x/prefix")
    assert DataRobotPipelinesHook().settings.api_url == "https://x/api/v2"
    monkeypatch.setenv(
        "AIRFLOW_CONN_DATAROBOT_PIPELINES_DEFAULT", "datarobot-pipelines://:TOKEN-0123456789@https%3A%2F%2Fx%2Fprefix"
    )
    assert DataRobotPipelinesHook().settings.api_url == "https://x/prefix/api/v2"
