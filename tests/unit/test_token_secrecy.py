"""The token: nowhere in an exception the clients raise, and one set of bytes on the wire from both clients.

An error tracker, a debugger or a log handler may show more than ``str(error)``: the chained exceptions
(``__cause__``, ``__context__``, even when raised ``from None``), their args and attributes (aiohttp keeps the
request's headers in ``RequestInfo``, requests the ``PreparedRequest``), the formatted chained traceback, a
pickled copy, and the locals of the traceback's frames. Each failure below is checked through all of them, on
the sync (requests) and the async (aiohttp) client. A token the connection accepts goes out as the same bytes
from both; one they would send differently (non-ASCII) is refused when the connection is parsed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import pickle
import socket
import ssl
import traceback
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_drpipelines.client.async_client import DataRobotPipelinesAsyncClient, shared_session
from airflow_provider_drpipelines.client.wire import MAX_JSON_BYTES, RetryPolicy, scrub, secret_forms
from airflow_provider_drpipelines.connection import ConnectionSettings
from airflow_provider_drpipelines.exceptions import (
    ApiConnectionError,
    DataRobotApiError,
    DataRobotConfigError,
    PipelineDryRunError,
    PipelineRunFailedError,
)
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from tests.unit.scripted_server import DROP, HANG, RESET, ScriptedServer, Stream, closing, reply

#: Quotes, a backslash and URL-reserved characters, so each escaped form differs from the raw one.
TOKEN = 'tok-0123456789/abcdefghij+klmnopqrst="uvwxyz\\secret'
PACKAGE = "airflow_provider_drpipelines"


def leaked_forms(text: str) -> list[str]:
    """The forms of the token found in ``text``: raw, escaped, base64 of the header, or a long piece of it."""
    header = base64.b64encode(f"Bearer {TOKEN}".encode()).decode()
    forms = [*secret_forms(TOKEN), header[12:40], TOKEN[8:28]]
    return [form for form in forms if form in text]


# --- everything reachable from an exception ------------------------------------------------------
def reachable(root: BaseException, depth: int = 6) -> Iterator[tuple[str, str]]:
    """``(where, text)`` for every object reachable from ``root`` through the exception chain, args, notes,
    attributes and container items: the repr of each, and the text of each string or bytes."""
    seen: set[int] = set()
    todo: list[tuple[Any, str, int]] = [(root, "error", 0)]
    while todo:
        value, where, level = todo.pop()
        if id(value) in seen or level > depth or isinstance(value, type | types.ModuleType | types.FunctionType):
            continue
        seen.add(id(value))
        if isinstance(value, str | bytes | bytearray):
            yield where, value if isinstance(value, str) else bytes(value).decode("latin-1")
            continue
        yield where, _safe_repr(value)
        for name, child in _children(value):
            todo.append((child, f"{where}.{name}", level + 1))


def _children(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, BaseException):
        yield "__str__", str(value)
        yield "__cause__", value.__cause__
        yield "__context__", value.__context__
        yield "args", value.args
        yield "__notes__", getattr(value, "__notes__", None)
    if isinstance(value, dict) or callable(getattr(value, "items", None)):
        try:
            for key, item in list(value.items()):
                yield f"[{key!r}]", key
                yield f"[{key!r}]", item
        except Exception:  # not a mapping after all
            pass
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            yield f"[{index}]", item
    yield from _attributes(value)


def _attributes(value: Any) -> Iterator[tuple[str, Any]]:
    yield from getattr(value, "__dict__", {}).items()
    for cls in type(value).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if hasattr(value, name):
                yield name, getattr(value, name)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as err:  # an object whose repr fails shows nothing
        return f"<repr failed: {type(err).__name__}>"


def frame_locals(error: BaseException) -> Iterator[tuple[str, str]]:
    """The repr of every local of this package's frames in the traceback, as an error tracker records them."""
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if f"/{PACKAGE}/" in code.co_filename:
            for name, value in tb.tb_frame.f_locals.items():
                yield f"{code.co_name}:{name}", _safe_repr(value)
        tb = tb.tb_next


def assert_no_secret_reachable(error: BaseException) -> None:
    leaks = [(where, forms) for where, text in reachable(error) if (forms := leaked_forms(text))]
    assert not leaks, f"the token is reachable from the error at {leaks[:3]}"
    formatted = "".join(traceback.format_exception(error, chain=True))
    assert not leaked_forms(formatted), formatted
    pickled = pickle.dumps(error)
    assert not leaked_forms(pickled.decode("latin-1"))
    copy = pickle.loads(pickled)
    assert (type(copy), copy.args, copy.__dict__) == (type(error), error.args, error.__dict__)
    local_leaks = [(where, forms) for where, text in frame_locals(error) if (forms := leaked_forms(text))]
    assert not local_leaks, f"the token is in the traceback's frame locals {local_leaks}"


# --- both clients ----------------------------------------------------------------------------------
def settings(url: str, token: str = TOKEN, **extra: Any) -> ConnectionSettings:
    return ConnectionSettings.from_connection("c", url, token, None, {"timeout": "3", **extra})


def poll_sync(config: ConnectionSettings) -> Any:
    hook = DataRobotPipelinesHook(retry_limit=1)
    hook.__dict__["settings"] = config
    return hook.get_run_status("p1", "r1")


def poll_async(config: ConnectionSettings) -> Any:
    async def main() -> Any:
        client = DataRobotPipelinesAsyncClient(config, await shared_session(config), RetryPolicy(max_attempts=1))
        return await client.get_run_status("p1", "r1")

    return asyncio.run(main())


BOTH = pytest.mark.parametrize("poll", [poll_async, poll_sync], ids=["aiohttp", "requests"])


def raised_by(poll: Callable[[ConnectionSettings], Any], config: ConnectionSettings) -> DataRobotApiError:
    with pytest.raises(DataRobotApiError) as info:
        poll(config)
    return info.value


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ECHO = f"Authorization: Bearer {TOKEN}"
#: Answers of a server that fails the request; those that can echo the token back do.
ANSWERS = {
    "reset": RESET,
    "closed-unanswered": DROP,
    "ssh-banner": b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n",
    "bad-header-line": closing(b"HTTP/1.1 200 OK\r\n" + ECHO.encode() + b"\x00\r\n\r\n"),
    "truncated-body": closing(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{" + ECHO.encode()),
    "401-echo": reply({"detail": ECHO}, status=401),
    "404-echo": reply({"detail": ECHO}, status=404),
    "503-echo": reply(raw=f"<html>{ECHO}</html>".encode(), status=503, headers={"Content-Type": "text/html"}),
    "2xx-not-json-echo": reply(raw=f"<html>{ECHO}</html>".encode(), status=200),
    "2xx-over-the-cap": Stream(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", b" " * 65536, 200),
    "3xx-echo": reply(status=302, headers={"Location": f"https://evil.example/?t={TOKEN}"}),
}
assert MAX_JSON_BYTES < 200 * 65536  # the over-the-cap answer is over the cap


@BOTH
@pytest.mark.parametrize("answer", ANSWERS.values(), ids=ANSWERS.keys())
def test_no_secret_reachable_from_a_failed_answer(poll, answer):
    with ScriptedServer([answer]) as server:
        error = raised_by(poll, settings(server.url))
    assert_no_secret_reachable(error)


@BOTH
def test_no_secret_reachable_from_a_timeout(poll):
    with ScriptedServer([HANG]) as server:
        error = raised_by(poll, settings(server.url, timeout="0.3"))
    assert "timed out" in str(error) or "Timeout" in str(error)
    assert_no_secret_reachable(error)


@BOTH
def test_no_secret_reachable_from_a_refused_connection(poll):
    error = raised_by(poll, settings(f"http://127.0.0.1:{closed_port()}"))
    assert_no_secret_reachable(error)


@pytest.fixture(scope="module")
def untrusted_ca() -> Any:
    import trustme

    return trustme.CA()


@BOTH
def test_no_secret_reachable_from_a_tls_failure(poll, untrusted_ca, monkeypatch):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    untrusted_ca.issue_cert("127.0.0.1").configure_cert(context)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with ScriptedServer([reply({})], tls=context) as server:
        error = raised_by(poll, settings(server.url))
    assert "TLS verification failed" in str(error)
    assert_no_secret_reachable(error)


PROXY_ANSWERS = {
    "proxy-407": reply(status=407, headers={"Proxy-Authenticate": "Basic"}),
    "proxy-502-echo": reply(raw=ECHO.encode(), status=502),
    "proxy-closes": DROP,
}


@BOTH
@pytest.mark.parametrize("answer", PROXY_ANSWERS.values(), ids=PROXY_ANSWERS.keys())
def test_no_secret_reachable_from_a_proxy_failure(poll, answer):
    """An https API through a proxy: the proxy refuses or breaks the CONNECT tunnel."""
    with ScriptedServer([answer]) as proxy:
        error = raised_by(poll, settings("https://dr.example.com", proxies=f'{{"https": "{proxy.url}"}}'))
    assert proxy.requests and proxy.requests[0].method == "CONNECT"
    assert_no_secret_reachable(error)


@BOTH
def test_no_secret_reachable_from_a_refused_proxy(poll):
    error = raised_by(
        poll, settings("https://dr.example.com", proxies=f'{{"https": "http://127.0.0.1:{closed_port()}"}}')
    )
    assert_no_secret_reachable(error)


# --- one token on the wire -------------------------------------------------------------------------
def authorization_line(head: bytes) -> bytes:
    """The Authorization header line exactly as it arrived, name included."""
    [line] = [line for line in head.split(b"\r\n") if line.lower().startswith(b"authorization:")]
    return line


PRINTABLE_ASCII = "".join(map(chr, range(0x21, 0x7F)))


@pytest.mark.parametrize(
    "token",
    ["NjRmMGE5YzE3ZDQ1Yjg2ZTNhMmYxYzRkOmV4YW1wbGUtdG9rZW4=", PRINTABLE_ASCII, "two words with spaces"],
    ids=["base64-like", "every-printable-ascii", "inner-spaces"],
)
def test_an_accepted_token_goes_out_as_the_same_bytes_from_both_clients(token):
    with ScriptedServer([reply({"status": "RUNNING"})]) as server:
        config = settings(server.url, token=token)
        poll_async(config)
        poll_sync(config)
    from_aiohttp, from_requests = (authorization_line(request.head) for request in server.requests)
    assert from_aiohttp == from_requests == b"Authorization: Bearer " + token.encode("ascii")


@pytest.mark.parametrize(
    "token",
    ["tökén-0123456789", "tok\xa0nbsp-0123456789", "tok\tab-0123456789", "tok\x7fdel-0123456789", "tok€-0123456789"],
    ids=["latin-1-letters", "latin-1-nbsp", "tab", "del", "beyond-latin-1"],
)
def test_a_token_beyond_printable_ascii_is_refused_naming_the_field_never_the_value(token):
    """requests sends a Latin-1 header as Latin-1 bytes and aiohttp as UTF-8: two credentials for one connection."""
    with pytest.raises(DataRobotConfigError, match=r"'c': the API token \(password field\).*printable ASCII") as info:
        settings("https://dr.example.com", token=token)
    assert "0123456789" not in str(info.value)


# --- scrubbing a token quoted inside a quote ------------------------------------------------------
@pytest.mark.parametrize(
    "token",
    ["tok'A1B2C3D4'secret", 'tok"A1B2C3D4"secret', "tok'\"A1B2C3D4\\secret", "tok\\A1B2C3D4\\secret"],
    ids=["single-quotes", "double-quotes", "both-quotes-and-backslash", "backslashes"],
)
@pytest.mark.parametrize(
    "quoted",
    [
        lambda token: repr(f"Invalid HTTP header: {token.encode()!r}"),  # aiohttp's ClientResponseError
        lambda token: repr(repr(token)),
        lambda token: json.dumps(repr(token)),
        lambda token: repr(json.dumps(token)),
        lambda token: repr(f"quotes of both kinds ' \" around {token!r}"),
    ],
    ids=["bytes-repr-in-repr", "repr-in-repr", "repr-in-json", "json-in-repr", "repr-in-repr-of-quotes"],
)
def test_a_token_quoted_inside_a_quote_is_scrubbed_whole(token, quoted):
    """Which quote a repr escapes depends on the whole text, so the token's own repr is not enough to find it."""
    scrubbed = scrub(quoted(token), token)
    assert "***" in scrubbed
    assert "A1B2C3D4" not in scrubbed and "secret" not in scrubbed


@pytest.mark.parametrize(
    "error",
    [
        PipelineRunFailedError("run r1 FAILED", pipeline_id="p1", run_id="r1", status="FAILED"),
        PipelineDryRunError("2 problems", report={"checks": [{"name": "source", "ok": False}]}),
        ApiConnectionError("no answer", method="GET", path="/pipelines", connected=True),
        DataRobotConfigError("bad extra"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_provider_error_survives_a_pickle_round_trip(error):
    """Pickling re-called ``__init__`` with ``args`` only, which the keyword-only fields refused."""
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.__dict__) == (type(error), str(error), error.__dict__)
