"""Both clients against scripted hostile or unusual servers: the defects the hand-written HTTP client had,
and one rule for TLS trust and proxies whatever requests' or aiohttp's own defaults would say."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_drpipelines.client.async_client import DataRobotPipelinesAsyncClient, shared_session
from airflow_provider_drpipelines.client.wire import RetryPolicy
from airflow_provider_drpipelines.connection import ConnectionSettings
from airflow_provider_drpipelines.exceptions import (
    ApiAuthError,
    ApiConnectionError,
    ApiResponseError,
    DataRobotApiError,
)
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests.unit.scripted_server import ScriptedServer, reply

RUN = {"id": "r1", "status": "RUNNING"}
LONG_TOKEN = "tok-" + "abcdefghij0123456789" * 5  # 104 characters, longer than any truncation


def settings(url: str, token: str = LONG_TOKEN, **extra: Any) -> ConnectionSettings:
    return ConnectionSettings.from_connection("c", url, token, None, {"timeout": "3", **extra})


def poll_async(config: ConnectionSettings) -> Any:
    async def main() -> Any:
        client = DataRobotPipelinesAsyncClient(config, await shared_session(config), RetryPolicy(max_attempts=1))
        return await client.get_run_status("p1", "r1")

    return asyncio.run(main())


def poll_sync(config: ConnectionSettings) -> Any:
    hook = DataRobotPipelinesHook(retry_limit=1)
    hook.__dict__["settings"] = config
    return hook.get_run_status("p1", "r1")


BOTH = pytest.mark.parametrize("poll", [poll_async, poll_sync], ids=["aiohttp", "requests"])


# --- framing ---------------------------------------------------------------------------------------
def test_endless_chunk_size_line_is_refused_not_buffered():
    endless = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * (4 * 1024 * 1024)
    with ScriptedServer([endless]) as server, pytest.raises(ApiConnectionError):
        poll_async(settings(server.url))


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x14\r\n" + b"x" * 20 + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+14\r\n" + b"x" * 20 + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n14\r\n" + b"x" * 20 + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}",
    ],
    ids=["hex-prefix", "plus-sign", "xchunked", "space-before-colon"],
)
def test_lenient_framing_is_refused(answer):
    with ScriptedServer([answer]) as server, pytest.raises(DataRobotApiError):
        poll_async(settings(server.url))


def test_a_bare_lf_head_is_a_prompt_clear_error_not_a_timeout():
    answer = b'HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: 32\n\n{"id": "r1", "status": "RUNNING"}'
    with ScriptedServer([answer]) as server, pytest.raises(ApiConnectionError, match="not valid HTTP"):
        poll_async(settings(server.url, timeout="60"))


def test_connection_close_in_a_token_list_is_honoured():
    closing = reply(RUN, headers={"Connection": "close, keep-alive"})

    async def two_polls(config: ConnectionSettings) -> None:
        client = DataRobotPipelinesAsyncClient(config, await shared_session(config), RetryPolicy(max_attempts=1))
        for _ in range(2):
            await client.get_run_status("p1", "r1")

    with ScriptedServer([closing]) as server:
        asyncio.run(two_polls(settings(server.url)))
    assert server.connections == 2, "the closed connection was not reused"


# --- secrets in echoed answers -----------------------------------------------------------------
@BOTH
@pytest.mark.parametrize(
    "answer",
    [
        reply({"detail": "x" * 990 + f"Bearer {LONG_TOKEN}"}, status=401),
        reply(raw=("<html>" + "y" * 150 + f"Authorization: Bearer {LONG_TOKEN}</html>").encode(), status=401),
        reply(raw=("z" * 150 + f"Bearer {LONG_TOKEN}").encode(), status=200),
        reply({"echo": f"Bearer {LONG_TOKEN}"}, status=200),
    ],
    ids=["long-detail", "html-page", "not-json-success", "missing-field-success"],
)
def test_no_part_of_the_token_survives_a_truncated_message(poll, answer):
    with ScriptedServer([answer]) as server, pytest.raises((ApiAuthError, ApiResponseError)) as info:
        poll(settings(server.url))
    text = str(info.value) + str(getattr(info.value, "detail", ""))
    fragments = {LONG_TOKEN[i : i + 12] for i in range(len(LONG_TOKEN) - 12)}
    assert not [f for f in fragments if f in text], text


# --- address fallback, internationalised endpoints --------------------------------------------
@pytest.fixture
def two_address_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ScriptedServer]]:
    """``dr-fallback.test`` resolves to a loopback address that silently drops connections, then a live one."""
    with ScriptedServer([reply(RUN)]) as server:
        dead = socket.socket()
        dead.bind(("127.0.0.2", server.port))
        dead.listen(0)
        backlog = []
        for _ in range(8):  # fill the accept queue until new connections are silently dropped
            probe = socket.socket()
            probe.settimeout(0.2)
            try:
                probe.connect(("127.0.0.2", server.port))
            except OSError:
                probe.close()
                break
            backlog.append(probe)
        real = socket.getaddrinfo

        def fake_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host == "dr-fallback.test":
                return [
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", int(port))),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port))),
                ]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
        yield f"http://dr-fallback.test:{server.port}", server
        for probe in backlog:
            probe.close()
        dead.close()


def test_a_dead_first_address_falls_back_to_the_next(two_address_host):
    url, server = two_address_host
    assert poll_async(settings(url)) == RUN
    assert len(server.requests) == 1


@BOTH
def test_a_non_ascii_path_prefix_is_sent_percent_encoded(poll):
    with ScriptedServer([reply(RUN)]) as server:
        assert poll(settings(server.url + "/präfix")) == RUN
    assert server.requests[0].target == "/pr%C3%A4fix/api/v2/pipelines/p1/dispatches/r1/status"


def test_an_internationalised_host_is_sent_in_its_idna_form():
    config = settings("https://datarobot.bücher.example")
    assert config.api_url == "https://datarobot.xn--bcher-kva.example/api/v2"


# --- one TLS rule ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_server_ca() -> Any:
    import trustme

    return trustme.CA()


@pytest.fixture
def tls_server(tls_server_ca: Any) -> Iterator[ScriptedServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_server_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with ScriptedServer([reply(RUN)], tls=context) as server:
        yield server


@BOTH
def test_ssl_cert_file_is_trusted_by_both_clients(poll, tls_server, tls_server_ca, tmp_path, monkeypatch):
    """requests alone ignores SSL_CERT_FILE (it trusts certifi); aiohttp alone honours it: both honour it here."""
    bundle = tmp_path / "ca.pem"
    tls_server_ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert poll(settings(tls_server.url)) == RUN


@BOTH
def test_an_unknown_ca_fails_verification_on_both_clients(poll, tls_server, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(DataRobotApiError, match="TLS verification failed"):
        poll(settings(tls_server.url))


@BOTH
def test_verify_false_skips_verification_on_both_clients(poll, tls_server):
    assert poll(settings(tls_server.url, verify="false")) == RUN


@BOTH
def test_a_plain_http_api_builds_no_tls_context(poll, monkeypatch):
    """Loading the trust stores costs ~20 ms of every fresh process's first call; http needs none of it."""

    def no_tls(self: ConnectionSettings) -> ssl.SSLContext:
        raise AssertionError("a TLS context was built for a plain-http API")

    monkeypatch.setattr(ConnectionSettings, "tls_context", no_tls)
    with ScriptedServer([reply(RUN)]) as api:
        assert poll(settings(api.url)) == RUN


# --- one proxy rule ----------------------------------------------------------------------------
@BOTH
@pytest.mark.parametrize(
    ("no_proxy", "proxied"),
    [("", True), ("127.0.0.1", False), ("127.0.0.0/8", True)],
    ids=["no-bypass", "bypass-by-host", "cidr-not-a-bypass"],
)
def test_environment_proxy_rule_is_the_same_for_both_clients(poll, monkeypatch, no_proxy, proxied):
    """requests' own rule bypasses ``127.0.0.0/8`` (CIDR), urllib's and aiohttp's do not: here both do not."""
    with ScriptedServer([reply(RUN)]) as proxy, ScriptedServer([reply(RUN)]) as api:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", no_proxy)
        assert poll(settings(api.url)) == RUN
    through_proxy = [r.target for r in proxy.requests]
    assert bool(through_proxy) is proxied
    if proxied:
        assert through_proxy == [f"{api.url}/api/v2/pipelines/p1/dispatches/r1/status"]
    assert bool(api.requests) is not proxied
