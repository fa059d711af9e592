"""The lean HTTP/1.1 GET client of the status polls, against scripted raw asyncio servers."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from airflow_provider_drpipelines import _http1
from airflow_provider_drpipelines._http1 import MAX_HEAD_BYTES, Http1Error, Http1Pool

T = TypeVar("T")

TOKEN = "tok-5f3c9a71-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
FRESH = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh"
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n"
)
CHUNKED_BODY = b"Wikipedia in\r\n\r\nchunks."


def run(main: Coroutine[Any, Any, T]) -> T:
    """Runs one test's client and server in a fresh loop; a hang fails the test instead of stalling the suite."""
    return asyncio.run(asyncio.wait_for(main, 10))


class Peer:
    """The server side of one connection."""

    def __init__(self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.index = index
        self.reader = reader
        self.writer = writer
        self.requests: list[bytes] = []
        #: Set once the client closed or reset the connection (seen by ``request``).
        self.gone = asyncio.Event()

    async def request(self) -> bytes | None:
        """The next request head, or None once the client has closed the connection."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.gone.set()
            return None
        self.requests.append(head)
        return head

    async def send(self, data: bytes, *, bytewise: bool = False) -> None:
        pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
        for piece in pieces:
            self.writer.write(piece)
            await self.writer.drain()
            if bytewise:
                await asyncio.sleep(0)  # lets the client read this byte on its own


Handler = Callable[[Peer], Awaitable[None]]


class Server:
    """A raw TCP (or TLS) server on 127.0.0.1; each connection is served by ``handler`` and closed when it returns."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.peers: list[Peer] = []
        self.open = 0
        self.most_open = 0
        self.port = 0
        self.errors: list[Exception] = []
        self._tasks: list[asyncio.Task[Any]] = []

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks)
        await self._server.wait_closed()
        if self.errors and exc_type is None:
            raise self.errors[0]

    def url(self, path: str = "/api/v2") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    def pool(self, max_connections: int = 2) -> Http1Pool:
        return Http1Pool(self.url(), AUTH, None, max_connections)

    @property
    def requests(self) -> list[bytes]:
        return [request for peer in self.peers for request in peer.requests]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.append(task)
        peer = Peer(len(self.peers), reader, writer)
        self.peers.append(peer)
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await self.handler(peer)
        except asyncio.CancelledError:
            pass  # the test is over; a cancelled callback task would be reported by asyncio as an error
        except ConnectionError:
            pass  # the client went away while the handler wrote
        except Exception as err:
            self.errors.append(err)  # a handler's own failure: raised when the server stops
        finally:
            self.open -= 1
            writer.close()


def answer(*responses: bytes, bytewise: bool = False) -> Handler:
    """Answers each request, on whichever connection, with the next of ``responses``; keeps connections open
    until the client closes them; hangs up without answering a request beyond the script."""
    queue = list(responses)

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            if not queue:
                return
            await peer.send(queue.pop(0), bytewise=bytewise)

    return handler


def by_connection(*handlers: Handler) -> Handler:
    """The n-th connection is served by the n-th handler; any further one is closed at once."""

    async def handler(peer: Peer) -> None:
        if peer.index < len(handlers):
            await handlers[peer.index](peer)

    return handler


async def until_gone(peer: Peer) -> None:
    """Waits (boundedly) for the client to close ``peer``'s connection."""
    await asyncio.wait_for(peer.gone.wait(), 5)


async def get_all(server: Server, *targets: str, timeout: float = 5.0) -> list[_http1.Http1Response]:
    """Sequential GETs on one pool, closed afterwards."""
    pool = server.pool()
    try:
        return [await pool.get(target, timeout) for target in targets]
    finally:
        pool.close()


async def get_error(pool: Http1Pool, target: str = "/x", timeout: float = 5.0) -> Http1Error:
    with pytest.raises(Http1Error) as caught:
        await pool.get(target, timeout)
    return caught.value


# --- the request ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_path", "request_line"),
    [
        ("/api/v2", "GET /api/v2/pipelines/p1/runs?limit=5&offset=0 HTTP/1.1"),
        ("/api/v2/", "GET /api/v2/pipelines/p1/runs?limit=5&offset=0 HTTP/1.1"),
        ("", "GET /pipelines/p1/runs?limit=5&offset=0 HTTP/1.1"),
    ],
)
def test_request_head_on_the_wire(base_path: str, request_line: str) -> None:
    async def main() -> Server:
        async with Server(answer(OK)) as server:
            pool = Http1Pool(server.url(base_path), {**AUTH, "User-Agent": "drp-test/1"}, None, 1)
            await pool.get("/pipelines/p1/runs?limit=5&offset=0", 5)
            pool.close()
        return server

    server = run(main())
    [head] = server.requests
    assert head.endswith(b"\r\n\r\n")
    first, *header_lines = head[:-4].decode("ascii").split("\r\n")
    assert first == request_line
    assert len(header_lines) == 4
    assert dict(line.split(": ", 1) for line in header_lines) == {
        "Host": f"127.0.0.1:{server.port}",
        "Authorization": f"Bearer {TOKEN}",
        "User-Agent": "drp-test/1",
        "Accept-Encoding": "identity",
    }


@pytest.mark.parametrize(
    "value", ["Bearer s3cr3t\r\nX-Evil: 1", "Bearer s3cr3t\nX-Evil: 1", "Bearer s3cr3t\0", "Bearer s3cr3t\u00e9"]
)
def test_header_value_that_would_break_the_head_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="Authorization") as caught:
        Http1Pool("http://127.0.0.1:8080/api/v2", {"Authorization": value}, None, 1)
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/api/v2", "127.0.0.1:8080/api/v2", "http:///api/v2"])
def test_non_http_base_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        Http1Pool(url, AUTH, None, 1)


def test_https_without_an_ssl_context_is_refused() -> None:
    with pytest.raises(ValueError, match="needs an SSL context"):
        Http1Pool("https://127.0.0.1:8443/api/v2", AUTH, None, 1)


@pytest.mark.parametrize("target", ["/runs/a b", "/runs/x\r\nX-Injected: 1", "/runs/\u00e9"])
def test_a_target_that_is_not_percent_encoded_is_refused_before_sending(target: str) -> None:
    pool = Http1Pool("http://127.0.0.1:9/api/v2", AUTH, None, 1)  # nothing listens on port 9: no connect tried
    with pytest.raises(ValueError, match="not a percent-encoded path"):
        run(pool.get(target, 1.0))


def test_repr_has_no_token() -> None:
    pool = Http1Pool("http://127.0.0.1:8080/api/v2", AUTH, None, 1)
    assert "127.0.0.1:8080" in repr(pool)
    assert TOKEN not in repr(pool)
    assert "Bearer" not in repr(pool)


# --- framing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status_line", "status"), [(b"HTTP/1.1 200 OK", 200), (b"HTTP/1.1 404 Not Found", 404)])
def test_content_length_response(status_line: bytes, status: int) -> None:
    body = b'{"id": "r-1", "status": "RUNNING"}'
    response = (
        status_line + b"\r\nContent-Type: application/json\r\nX-Multi: a\r\n"
        b"Content-Length: %d\r\nx-multi:   b  \r\n\r\n%s" % (len(body), body)
    )

    async def main() -> list[_http1.Http1Response]:
        async with Server(answer(response)) as server:
            return await get_all(server, "/runs/r-1")

    [got] = run(main())
    assert got.status == status
    assert got.headers == {"content-type": "application/json", "x-multi": "a, b", "content-length": str(len(body))}
    assert got.content == body


def test_chunked_response_then_the_connection_is_reused() -> None:
    """The chunk parser consumes exactly the message: the next response on the connection reads cleanly."""

    async def main() -> tuple[list[_http1.Http1Response], Server]:
        async with Server(answer(CHUNKED, OK)) as server:
            return await get_all(server, "/a", "/b"), server

    (chunked, after), server = run(main())
    assert chunked.status == 200
    assert chunked.headers["transfer-encoding"] == "chunked"
    assert chunked.content == CHUNKED_BODY
    assert after.content == b"ok"
    assert len(server.peers) == 1


@pytest.mark.parametrize(
    ("first", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello, world", b"hello, world"),
        (CHUNKED, CHUNKED_BODY),
    ],
    ids=["content-length", "chunked"],
)
def test_response_arriving_byte_by_byte(first: bytes, body: bytes) -> None:
    async def main() -> tuple[list[_http1.Http1Response], Server]:
        async with Server(answer(first, OK, bytewise=True)) as server:
            return await get_all(server, "/a", "/b"), server

    (got, after), server = run(main())
    assert (got.status, got.content) == (200, body)
    assert after.content == b"ok"
    assert len(server.peers) == 1


def test_body_delimited_by_the_connection_close() -> None:
    async def until_close(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, ")
        await asyncio.sleep(0.02)
        await peer.send(b"second part")

    async def main() -> tuple[list[_http1.Http1Response], Server]:
        async with Server(by_connection(until_close, answer(OK))) as server:
            return await get_all(server, "/a", "/b"), server

    (got, after), server = run(main())
    assert (got.status, got.content) == (200, b"first part, second part")
    assert after.content == b"ok"
    assert len(server.peers) == 2


@pytest.mark.parametrize("status", [204, 304])
def test_bodyless_status_needs_no_framing(status: int) -> None:
    """Without a Content-Length these would read until close; the next request reuses the connection."""
    response = b"HTTP/1.1 %d Whatever\r\nETag: x\r\n\r\n" % status

    async def main() -> tuple[list[_http1.Http1Response], Server]:
        async with Server(answer(response, OK)) as server:
            return await get_all(server, "/a", "/b"), server

    (got, after), server = run(main())
    assert (got.status, got.headers, got.content) == (status, {"etag": "x"}, b"")
    assert after.content == b"ok"
    assert len(server.peers) == 1


def test_informational_responses_are_skipped() -> None:
    response = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal"
    )

    async def main() -> list[_http1.Http1Response]:
        async with Server(answer(response)) as server:
            return await get_all(server, "/a")

    [got] = run(main())
    assert (got.status, got.headers, got.content) == (200, {"content-length": "4"}, b"real")


# --- keep-alive ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "connections"),
    [
        (OK, 1),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 2),
        (b"HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 2\r\n\r\nok", 2),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 2),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 2),
    ],
    ids=["http/1.1", "connection-close", "connection-Close", "http/1.0", "http/1.0-keep-alive"],
)
def test_connection_reuse(first: bytes, connections: int) -> None:
    """The server keeps every connection open: whether the client reuses or closes it is its own decision."""

    async def main() -> tuple[list[_http1.Http1Response], Server]:
        async with Server(answer(first, FRESH)) as server:
            pool = server.pool()
            got = [await pool.get("/a", 5), await pool.get("/b", 5)]
            if connections == 2:
                await until_gone(server.peers[0])
            pool.close()
            return got, server

    got, server = run(main())
    assert [r.content for r in got] == [b"ok", b"fresh"]
    assert len(server.peers) == connections
    assert len(server.requests) == 2


def test_stale_idle_connection_is_replaced() -> None:
    async def answer_once_and_hang_up(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)

    async def main() -> tuple[list[_http1.Http1Response], Server]:
        async with Server(by_connection(answer_once_and_hang_up, answer(FRESH))) as server:
            pool = server.pool()
            got = [await pool.get("/a", 5)]
            await asyncio.sleep(0.05)  # the client sees the close while the connection is idle
            got.append(await pool.get("/b", 5))
            pool.close()
            return got, server

    got, server = run(main())
    assert [r.content for r in got] == [b"ok", b"fresh"]
    assert [len(peer.requests) for peer in server.peers] == [1, 1]


def test_reused_connection_closed_before_answering_is_retried_on_a_fresh_one() -> None:
    """The race of a server closing an idle connection just as the request is sent on it."""

    async def hang_up_on_the_second_request(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)
        await peer.request()

    async def main() -> tuple[list[_http1.Http1Response], Server]:
        async with Server(by_connection(hang_up_on_the_second_request, answer(FRESH))) as server:
            return await get_all(server, "/a", "/b"), server

    got, server = run(main())
    assert [r.content for r in got] == [b"ok", b"fresh"]
    assert [len(peer.requests) for peer in server.peers] == [2, 1]


def test_reused_connection_closed_mid_response_is_not_retried() -> None:
    """Part of an answer arrived: the request reached the server and the failure is reported, not hidden."""

    async def answer_then_cut_short(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")

    async def main() -> tuple[Http1Error, Server]:
        async with Server(by_connection(answer_then_cut_short, answer(FRESH))) as server:
            pool = server.pool()
            assert (await pool.get("/a", 5)).content == b"ok"
            error = await get_error(pool, "/b")
            pool.close()
            return error, server

    error, server = run(main())
    assert error.connected is True
    assert "mid-response" in str(error)
    assert len(server.peers) == 1


def test_closed_idle_connection_is_skipped_for_a_live_one() -> None:
    """The newest idle connection was closed by the server: the older, live one serves the next request."""

    async def answer_late_and_hang_up(peer: Peer) -> None:
        await peer.request()
        await asyncio.sleep(0.05)  # finishes last: the newest idle connection
        await peer.send(OK)

    async def main() -> tuple[_http1.Http1Response, Server]:
        async with Server(by_connection(answer(OK, FRESH), answer_late_and_hang_up)) as server:
            pool = server.pool(max_connections=2)
            await asyncio.gather(pool.get("/a", 5), pool.get("/b", 5))
            await asyncio.sleep(0.05)  # the client sees the close while the connection is idle
            after = await pool.get("/c", 1)
            pool.close()
            return after, server

    after, server = run(main())
    assert after.content == b"fresh"
    assert [len(peer.requests) for peer in server.peers] == [2, 1]


@pytest.mark.parametrize(("expiry", "connections"), [(0.0, 2), (60.0, 1)])
def test_expired_idle_connection_is_not_reused(
    monkeypatch: pytest.MonkeyPatch, expiry: float, connections: int
) -> None:
    monkeypatch.setattr(_http1, "KEEPALIVE_EXPIRY", expiry)

    async def main() -> tuple[list[_http1.Http1Response], Server]:
        async with Server(answer(OK, FRESH)) as server:
            pool = server.pool()
            got = [await pool.get("/a", 5)]
            await asyncio.sleep(0.02)
            got.append(await pool.get("/b", 5))
            if connections == 2:
                await until_gone(server.peers[0])  # the expired connection is closed, not leaked
            pool.close()
            return got, server

    got, server = run(main())
    assert [r.content for r in got] == [b"ok", b"fresh"]
    assert len(server.peers) == connections


@pytest.mark.parametrize(
    "first",
    [OK + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale", CHUNKED + b"HTTP/1.1 200 OK\r\n"],
    ids=["content-length", "chunked"],
)
def test_bytes_after_the_response_spoil_the_connection(first: bytes) -> None:
    async def main() -> tuple[list[_http1.Http1Response], Server]:
        async with Server(answer(first, FRESH)) as server:
            return await get_all(server, "/a", "/b"), server

    (_, after), server = run(main())
    assert after.content == b"fresh"
    assert len(server.peers) == 2


def test_unsolicited_bytes_on_an_idle_connection_spoil_it() -> None:
    answered, spoiled = asyncio.Event(), asyncio.Event()

    async def answer_then_babble(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)
        await answered.wait()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
        spoiled.set()
        await peer.request()  # a reused connection would get the next request here: left unanswered

    async def main() -> tuple[list[_http1.Http1Response], Server]:
        async with Server(by_connection(answer_then_babble, answer(FRESH))) as server:
            pool = server.pool()
            got = [await pool.get("/a", 5)]
            answered.set()
            await spoiled.wait()
            await asyncio.sleep(0.05)  # the client reads the bytes while the connection is idle
            got.append(await pool.get("/b", 5))
            await until_gone(server.peers[0])
            pool.close()
            return got, server

    got, server = run(main())
    assert [r.content for r in got] == [b"ok", b"fresh"]
    assert [len(peer.requests) for peer in server.peers] == [1, 1]


# --- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (b"", "closed the connection without answering"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "mid-response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "mid-response"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "mid-response"),
    ],
    ids=["nothing", "partial-head", "partial-body", "partial-chunk"],
)
def test_fresh_connection_closed_before_a_complete_response(sent: bytes, message: str) -> None:
    async def send_and_hang_up(peer: Peer) -> None:
        await peer.request()
        if sent:
            await peer.send(sent)

    async def main() -> tuple[Http1Error, Server]:
        async with Server(send_and_hang_up) as server:
            pool = server.pool()
            error = await get_error(pool)
            pool.close()
            return error, server

    error, server = run(main())
    assert error.connected is True
    assert message in str(error)
    assert len(server.peers) == 1  # not sent again


def test_connection_reset_during_a_close_delimited_body_is_an_error() -> None:
    """Only an orderly close ends such a body; a reset means it was cut short."""

    async def reset_mid_body(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npartial")
        await asyncio.sleep(0.05)  # the client has read the partial body
        peer.writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.writer.transport.abort()  # closing with a zero linger time sends a reset

    async def main() -> _http1.Http1Response | Http1Error:
        async with Server(reset_mid_body) as server:
            pool = server.pool()
            try:
                return await pool.get("/x", 5)
            except Http1Error as err:
                return err
            finally:
                pool.close()

    outcome = run(main())
    assert isinstance(outcome, Http1Error), f"a reset connection's partial body was returned: {outcome!r}"
    assert outcome.connected is True


def test_connection_refused() -> None:
    with socket.socket() as reserved:  # bound but not listening: connecting is refused
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]

        async def main() -> Http1Error:
            return await get_error(Http1Pool(f"http://127.0.0.1:{port}/api/v2", AUTH, None, 1))

        error = run(main())
    assert error.connected is False
    assert f"127.0.0.1:{port}" in str(error)
    assert TOKEN not in str(error)


def test_timeout_without_an_answer() -> None:
    async def never_answer(peer: Peer) -> None:
        await peer.request()
        await peer.request()  # returns once the client gives up on the connection

    async def main() -> tuple[Http1Error, float, _http1.Http1Response, Server]:
        async with Server(by_connection(never_answer, answer(OK))) as server:
            pool = server.pool()
            started = time.monotonic()
            error = await get_error(pool, "/slow", timeout=0.2)
            elapsed = time.monotonic() - started
            await until_gone(server.peers[0])
            after = await pool.get("/next", 5)
            pool.close()
            return error, elapsed, after, server

    error, elapsed, after, server = run(main())
    assert elapsed < 5
    assert error.connected is True
    assert "0.2 s" in str(error)
    assert after.content == b"ok"
    assert [len(peer.requests) for peer in server.peers] == [1, 1]


def chunked(chunks: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(b"HTTX/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", id="bad-version"),
        pytest.param(b"HTTP/1.1 2xx OK\r\nContent-Length: 2\r\n\r\nok", id="bad-status-code"),
        pytest.param(b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok", id="four-digit-status"),
        pytest.param(b"garbage\r\n\r\n", id="no-status-line"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\nok", id="header-without-colon"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok", id="bad-content-length"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok", id="negative-content-length"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", id="two-lengths"),
        pytest.param(chunked(b"-5\r\nhello\r\n0\r\n\r\n"), id="negative-chunk-size"),
        pytest.param(chunked(b"zz\r\nhello\r\n0\r\n\r\n"), id="non-hex-chunk-size"),
        pytest.param(chunked(b"\r\nhello\r\n0\r\n\r\n"), id="empty-chunk-size"),
        pytest.param(chunked(b"5\r\nhelloXX0\r\n\r\n"), id="chunk-without-crlf"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nok", id="gzip"),
    ],
)
def test_malformed_response(response: bytes) -> None:
    async def main() -> Http1Error:
        async with Server(answer(response)) as server:
            pool = server.pool()
            error = await get_error(pool)
            pool.close()
            return error

    error = run(main())
    assert not isinstance(error, ValueError)
    assert error.connected is True
    assert "malformed HTTP response" in str(error)


def test_endless_head_is_refused_at_the_limit() -> None:
    async def endless_head(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * MAX_HEAD_BYTES + b"\r\n")
        await peer.request()  # no end of head ever comes

    async def main() -> Http1Error:
        async with Server(endless_head) as server:
            return await get_error(server.pool(), timeout=8)

    error = run(main())
    assert error.connected is True
    assert f"exceed {MAX_HEAD_BYTES} bytes" in str(error)


def test_complete_head_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit holds for a head that arrives whole in one read, too."""
    monkeypatch.setattr(_http1, "MAX_HEAD_BYTES", 100)
    response = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200 + b"\r\nContent-Length: 2\r\n\r\nok"

    async def main() -> _http1.Http1Response | Http1Error:
        async with Server(answer(response)) as server:
            pool = server.pool()
            try:
                return await pool.get("/x", 5)
            except Http1Error as err:
                return err
            finally:
                pool.close()

    outcome = run(main())
    assert isinstance(outcome, Http1Error), f"a {len(response)}-byte head was accepted: {outcome!r}"
    assert "exceed 100 bytes" in str(outcome)


# --- concurrency, cancellation, close ------------------------------------------------------------


def slow_echo(in_flight: list[int]) -> Handler:
    """Answers each request after a delay with its target as the body; ``in_flight`` holds [now, most]."""

    async def handler(peer: Peer) -> None:
        while (head := await peer.request()) is not None:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
            await asyncio.sleep(0.05)
            in_flight[0] -= 1
            target = head.split(b" ")[1]
            await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(target), target))

    return handler


def test_concurrent_gets_share_at_most_max_connections() -> None:
    in_flight = [0, 0]

    async def main() -> tuple[list[_http1.Http1Response], Server]:
        async with Server(slow_echo(in_flight)) as server:
            pool = server.pool(max_connections=2)
            got = await asyncio.gather(*(pool.get(f"/runs/{i}", 5) for i in range(6)))
            pool.close()
            return got, server

    got, server = run(main())
    assert [r.content for r in got] == [b"/api/v2/runs/%d" % i for i in range(6)]
    assert in_flight[1] == 2
    assert server.most_open == 2
    assert len(server.peers) == 2


def test_cancelled_get_aborts_its_connection() -> None:
    held = asyncio.Event()

    async def hold(peer: Peer) -> None:
        await peer.request()
        held.set()
        if await peer.request() is not None:  # the connection was wrongly reused
            await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nreused")

    async def main() -> tuple[_http1.Http1Response, Server]:
        async with Server(by_connection(hold, answer(FRESH))) as server:
            pool = server.pool()
            task = asyncio.create_task(pool.get("/held", 5))
            await held.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await until_gone(server.peers[0])
            after = await pool.get("/next", 5)
            pool.close()
            return after, server

    after, server = run(main())
    assert after.content == b"fresh"
    assert [len(peer.requests) for peer in server.peers] == [1, 1]


def test_close_closes_idle_connections() -> None:
    async def main() -> tuple[str, Server]:
        async with Server(slow_echo([0, 0])) as server:
            pool = server.pool(max_connections=2)
            await asyncio.gather(pool.get("/a", 5), pool.get("/b", 5))
            shown = repr(pool)
            pool.close()
            for peer in server.peers:
                await until_gone(peer)
            return shown, server

    shown, server = run(main())
    assert shown == f"Http1Pool(127.0.0.1:{server.port}, idle=2)"
    assert len(server.peers) == 2


def test_get_finishing_after_close_does_not_keep_its_connection() -> None:
    held, release = asyncio.Event(), asyncio.Event()

    async def answer_late(peer: Peer) -> None:
        await peer.request()
        held.set()
        await release.wait()
        await peer.send(OK)
        await peer.request()

    async def main() -> tuple[_http1.Http1Response, Server]:
        async with Server(answer_late) as server:
            pool = server.pool()
            task = asyncio.create_task(pool.get("/a", 5))
            await held.wait()
            pool.close()
            release.set()
            got = await task
            await until_gone(server.peers[0])
            return got, server

    got, server = run(main())
    assert got.content == b"ok"
    assert len(server.peers) == 1


# --- TLS -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (certificate, key) PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_tls_with_a_trusting_context(certificate: tuple[Path, Path]) -> None:
    async def main() -> tuple[list[_http1.Http1Response], Server]:
        async with Server(answer(OK, FRESH), tls=server_tls(certificate)) as server:
            pool = Http1Pool(server.url(), AUTH, ssl.create_default_context(cafile=str(certificate[0])), 2)
            got = [await pool.get("/a", 5), await pool.get("/b", 5)]
            pool.close()
            return got, server

    got, server = run(main())
    assert [r.content for r in got] == [b"ok", b"fresh"]
    assert len(server.peers) == 1
    assert server.requests[0].startswith(b"GET /api/v2/a HTTP/1.1\r\n")


def test_tls_with_an_untrusted_certificate(certificate: tuple[Path, Path]) -> None:
    async def main() -> tuple[Http1Error, Server]:
        async with Server(answer(OK), tls=server_tls(certificate)) as server:
            pool = Http1Pool(server.url(), AUTH, ssl.create_default_context(), 1)
            return await get_error(pool), server

    error, server = run(main())
    assert error.connected is False
    assert "certificate verify failed" in str(error).lower()
    assert f"127.0.0.1:{server.port}" in str(error)
    assert server.requests == []
