"""The async client of the pipelines API, on aiohttp, for triggers.

Every trigger of a triggerer that uses the same connection settings shares one ``aiohttp.ClientSession``
per event loop (a bounded keep-alive pool with a DNS cache and happy eyeballs). Airflow's HTTP provider does
otherwise: its async hook opens a session per context (``async with aiohttp.ClientSession()``) and closes it
on exit, so a trigger that enters one per poll pays a new TCP and TLS handshake each time, a thousand times
per interval in a triggerer following a thousand runs (``bench/triggerer_scale.py`` measures both).
Sessions close when their event loop shuts down (``asyncio.run`` finalises the async generator that owns
them), so neither the triggerer nor ``dag.test()`` leaves an unclosed session behind. Every rule about what
to send and what an answer means lives in ``wire`` and ``endpoints``, shared with the sync hook; this module
only moves bytes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
from yarl import URL

from airflow_provider_drpipelines.client import wire
from airflow_provider_drpipelines.client.endpoints import PipelinesApi
from airflow_provider_drpipelines.client.wire import ApiRequest, RetryPolicy, log_request
from airflow_provider_drpipelines.connection import ConnectionSettings
from airflow_provider_drpipelines.exceptions import ApiConflictError, ApiNotFoundError, DataRobotApiError

log = logging.getLogger(__name__)

#: Connections kept open per API per event loop; requests beyond that wait for a free one.
POOL_CONNECTIONS = 64
#: Seconds an idle keep-alive connection is kept (a server's own idle timeout is usually longer).
KEEPALIVE_SECONDS = 15.0
#: Seconds a resolved host name is reused before it is looked up again.
DNS_CACHE_SECONDS = 300
_READ_CHUNK = 64 * 1024


class DataRobotPipelinesAsyncClient(PipelinesApi[Awaitable[Any]]):
    """Every endpoint as a coroutine: never blocks the event loop.

    Each method of :class:`~airflow_provider_drpipelines.client.endpoints.PipelinesApi` returns an awaitable of the
    decoded JSON body the sync hook would return. Get one from
    :meth:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook.aget_client` rather than building it.

    :param settings: the connection's settings (endpoint, token, TLS, proxy, timeout).
    :param session: the shared session from :func:`shared_session`; the client never closes it.
    :param retry_policy: when to retry a failed request; creates are never re-sent blindly.
    """

    def __init__(self, settings: ConnectionSettings, session: aiohttp.ClientSession, retry_policy: RetryPolicy) -> None:
        self.settings = settings
        self.session = session
        self.retry_policy = retry_policy
        self._proxy = settings.proxy_url()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_url={self.settings.api_url!r})"

    async def _send(self, request: ApiRequest) -> Any:
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                return await self._send_once(request)
            except DataRobotApiError as error:
                step = wire.plan_retry(self.retry_policy, request, error, attempt, time.monotonic() - started, False)
                if step is None:
                    raise
                log.warning("%s; retrying in %.1f s (attempt %d)", error, step.delay, attempt + 1)
                await asyncio.sleep(step.delay)
                attempt += 1

    @wire.sealed_async
    async def _send_once(self, request: ApiRequest) -> Any:
        settings = self.settings
        timeout = request.timeout_within(settings.timeout)
        started = wire.request_started()
        try:
            async with self.session.request(
                request.method,
                URL(settings.url(request.path), encoded=True),
                params=request.query() or None,
                json=request.json,
                data=_form_data(request),
                proxy=self._proxy,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=timeout),
            ) as response:
                content = await _read_capped(response, request, settings.token)
                status, headers = response.status, response.headers
        except DataRobotApiError:
            log_request(log, request, "answer over its size cap", started)
            raise
        except aiohttp.ClientConnectorCertificateError as err:
            log_request(log, request, "TLS error", started)
            raise wire.tls_error(request, settings.token, err) from None
        except (aiohttp.InvalidURL, ValueError) as err:  # an unsendable URL or header: no transient fault
            raise wire.unsendable(request, settings.api_url, settings.token, err) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            log_request(log, request, type(err).__name__, started)
            raise wire.connection_error(
                request,
                settings.api_url,
                settings.token,
                err,
                connected=_reached_server(err),
                # without raise_for_status, aiohttp raises this only when its parser refuses the answer
                malformed=isinstance(err, aiohttp.ClientResponseError),
            ) from None
        log_request(log, request, status, started)
        return wire.interpret_response(request, status, headers, content, settings.token)

    async def cancel_run_if_active(self, pipeline_id: str, run_id: str, version: int | None) -> bool:
        """Cancel a run; one already terminal or gone is logged, not an error. True if this call cancelled it.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :return: True if this call cancelled the run, False if it had already ended or does not exist.
        """
        try:
            await self.cancel_run(pipeline_id, run_id, version)
        except (ApiConflictError, ApiNotFoundError) as err:
            log.info("Run %s not cancelled: %s", run_id, err.detail)
            return False
        log.info("Cancelled pipeline run %s.", run_id)
        return True


def _form_data(request: ApiRequest) -> aiohttp.FormData | None:
    parts = request.multipart()
    if parts is None:
        return None
    form = aiohttp.FormData()
    for name, part in parts:
        filename, value = part[0], part[1]
        content_type = part[2] if len(part) > 2 else None  # (filename, content, content type)
        form.add_field(name, value, filename=filename, content_type=content_type)
    return form


async def _read_capped(response: aiohttp.ClientResponse, request: ApiRequest, secret: str) -> bytes:
    """At most the answer's cap: a 2xx over it is an error, an error page is cut (its status says enough)."""
    limit = wire.answer_limit(request, response.status)
    declared = response.content_length
    if 200 <= response.status < 300 and declared is not None and declared > limit:
        raise wire.too_large(request, response.status, limit, secret)
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await response.content.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    if 200 <= response.status < 300:
        raise wire.too_large(request, response.status, limit, secret)
    response.close()  # the rest of an oversized error page is not worth keeping the connection for
    return b"".join(chunks)[:limit]


def _reached_server(err: BaseException) -> bool:
    """Whether the request may have reached the server: only a failure to connect proves it did not."""
    return not isinstance(err, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


# --- one session per event loop and connection settings ----------------------------------------
_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[ConnectionSettings, aiohttp.ClientSession]] = (
    weakref.WeakKeyDictionary()
)
#: Per loop, the async generator whose ``finally`` closes that loop's sessions at shutdown.
_CLOSERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncIterator[None]] = weakref.WeakKeyDictionary()


async def shared_session(settings: ConnectionSettings) -> aiohttp.ClientSession:
    """The session every trigger on this event loop uses for these settings; a closed one is replaced.

    One pool per loop and connection keeps a triggerer with many runs to a handful of TCP connections; the
    sessions close when the loop shuts down.

    :param settings: the connection's settings; equal settings share a session.
    :return: an open session; do not close it yourself.
    """
    loop = asyncio.get_running_loop()
    sessions = _SESSIONS.get(loop)
    if sessions is None:
        sessions = _SESSIONS[loop] = {}
        closer = _CLOSERS[loop] = _close_at_shutdown(sessions)
        await anext(closer)  # registers it with the loop: asyncio.run() finalises it before closing the loop
    session = sessions.get(settings)
    if session is None or session.closed:
        session = sessions[settings] = new_session(settings)
    return session


async def _close_at_shutdown(sessions: dict[ConnectionSettings, aiohttp.ClientSession]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await close_sessions(sessions)


async def close_sessions(sessions: dict[ConnectionSettings, aiohttp.ClientSession] | None = None) -> None:
    """Close these sessions (default: the running loop's); the next request opens new ones.

    Not needed in a triggerer or ``dag.test()``: sessions close with their event loop. For code that
    keeps a loop running and wants its connections released now.

    :param sessions: the sessions to close, by settings; None means every session of the running loop.
    """
    if sessions is None:
        sessions = _SESSIONS.get(asyncio.get_running_loop(), {})
    closing = list(sessions.values())
    sessions.clear()
    await asyncio.gather(*(session.close() for session in closing), return_exceptions=True)


def new_session(settings: ConnectionSettings) -> aiohttp.ClientSession:
    """A bounded keep-alive pool with the connection's TLS trust; proxies are chosen per request, by us.

    Not shared: the caller owns it and must close it. Triggers use :func:`shared_session` instead.

    :param settings: the connection's settings (token, TLS trust).
    :return: a new session that sends the API token on every request.
    """
    connector = aiohttp.TCPConnector(
        limit=POOL_CONNECTIONS,
        limit_per_host=POOL_CONNECTIONS,
        ttl_dns_cache=DNS_CACHE_SECONDS,
        keepalive_timeout=KEEPALIVE_SECONDS,
        ssl=settings.tls_context() if settings.uses_tls else True,  # True: aiohttp's default, unused for http
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers=wire.auth_headers(settings.token),
        trust_env=False,  # the environment's proxies were weighed once, in ConnectionSettings.proxy_url()
        raise_for_status=False,
    )
