"""``DataRobotPipelinesHook``: the whole pipelines API behind an Airflow connection.

The hook is the sync client (a pooled ``requests.Session``, see ``client.sync_transport``);
:meth:`DataRobotPipelinesHook.aget_client` hands triggers the async client of ``async_client`` (aiohttp,
one shared session per event loop). Both inherit every endpoint from ``PipelinesApi``, every transport
rule from ``client.wire`` and their TLS and proxy choice from ``ConnectionSettings``, so they differ only in
how bytes cross the network.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import requests
from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_drpipelines.client import lost_creates, sync_transport, wire
from airflow_provider_drpipelines.client.answers import numbered_versions, refuse_failed_version, required
from airflow_provider_drpipelines.client.endpoints import PipelinesApi
from airflow_provider_drpipelines.client.polling import poll_in_worker
from airflow_provider_drpipelines.client.wire import ApiRequest, RetryPolicy, log_request
from airflow_provider_drpipelines.connection import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    HOOK_NAME,
    UI_FIELD_BEHAVIOUR,
    ConnectionSettings,
)
from airflow_provider_drpipelines.exceptions import (
    ApiAuthError,
    ApiConflictError,
    ApiConnectionError,
    ApiNotFoundError,
    ApiResponseError,
    DataRobotApiError,
    DataRobotConfigError,
    PipelineRunTimeoutError,
)
from airflow_provider_drpipelines.hooks.listings import PipelinesListings
from airflow_provider_drpipelines.statuses import (
    LATEST_VERSION,
    PipelineMode,
    ends_wait,
)

if TYPE_CHECKING:
    from collections.abc import Collection

    from airflow_provider_drpipelines.client.async_client import DataRobotPipelinesAsyncClient
    from airflow_provider_drpipelines.client.bodies import PipelineBody, RunStatusBody

T = TypeVar("T")


class DataRobotPipelinesHook(BaseHook, PipelinesListings):
    """Interact with DataRobot pipelines through a ``datarobot_pipelines`` connection.

    Every endpoint of :class:`~airflow_provider_drpipelines.client.endpoints.PipelinesApi` is a method of this hook
    and returns the decoded JSON body. Connection errors, timeouts, 429 and 5xx are retried with exponential
    backoff and jitter, honouring ``Retry-After``; a create whose answer was lost is reconciled, not re-sent.

    :param datarobot_pipelines_conn_id: the connection; host is the DataRobot endpoint, password the API token.
    :param retry_limit: attempts per request, the first included, for connection errors, timeouts, 429 and 5xx.
    :param retry_delay: base of the exponential backoff, in seconds.
    :param retry_max_delay: longest pause between two attempts, unless the server's ``Retry-After`` asks for more.
    :param retry_timeout: total seconds one request may spend retrying.
    """

    conn_name_attr = "datarobot_pipelines_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    def __init__(
        self,
        datarobot_pipelines_conn_id: str = DEFAULT_CONN_ID,
        *,
        retry_limit: int = 6,
        retry_delay: float = 1.0,
        retry_max_delay: float = 30.0,
        retry_timeout: float = 180.0,
    ) -> None:
        super().__init__()
        self.datarobot_pipelines_conn_id = datarobot_pipelines_conn_id
        self.retry_policy = RetryPolicy(
            max_attempts=retry_limit,
            base_delay=retry_delay,
            max_delay=retry_max_delay,
            max_total_seconds=retry_timeout,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(datarobot_pipelines_conn_id={self.datarobot_pipelines_conn_id!r})"

    # --- connection form (Airflow 2.11-3.1; 3.2+ reads conn-fields from provider info) ----------
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form's hidden, relabelled and placeholder fields (Airflow 2.11-3.1).

        :return: a deep copy of :data:`~airflow_provider_drpipelines.connection.UI_FIELD_BEHAVIOUR`, safe to edit.
        """
        return copy.deepcopy(UI_FIELD_BEHAVIOUR)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extras' form widgets (Airflow 2.11-3.1; 3.2+ reads ``conn-fields`` from provider info).

        :return: one wtforms ``StringField`` per extra of the connection.
        """
        from airflow_provider_drpipelines.version_compat import connection_form_widgets

        return connection_form_widgets()

    # --- settings and transport ---------------------------------------------------------------
    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection parsed once per hook: endpoint, token, TLS, proxies, timeout.

        :raises DataRobotConfigError: naming the field (never the token) when the connection is unusable.
        """
        from urllib.parse import urlsplit

        from airflow.providers.common.compat.sdk import mask_secret

        conn = self.get_connection(self.datarobot_pipelines_conn_id)
        settings = ConnectionSettings.from_connection(
            self.datarobot_pipelines_conn_id, conn.host, conn.password, conn.port, conn.extra
        )
        for _, proxy in settings.proxies:  # the one secret an extra may hold: a proxy's password
            if password := urlsplit(proxy).password:
                mask_secret(password)
        return settings

    async def aget_settings(self) -> ConnectionSettings:
        """The settings without blocking the event loop; shares the cache slot of :attr:`settings`.

        :raises DataRobotConfigError: naming the field (never the token) when the connection is unusable.
        """
        if "settings" not in self.__dict__:
            from airflow.providers.common.compat.connection import get_async_connection

            conn = await get_async_connection(self.datarobot_pipelines_conn_id, self)
            self.__dict__["settings"] = ConnectionSettings.from_connection(
                self.datarobot_pipelines_conn_id, conn.host, conn.password, conn.port, conn.extra
            )
        settings: ConnectionSettings = self.__dict__["settings"]
        return settings

    def get_conn(self) -> requests.Session:
        """The pooled ``requests.Session`` every sync call of this hook uses (Airflow's hook protocol).

        Prefer the endpoint methods: they add the API URL, retries and error mapping the bare session lacks.
        """
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        return sync_transport.new_session(self.settings)

    def _send(self, request: ApiRequest, reconcile: Callable[[], T | None] | None = None) -> Any:
        """Send with the shared retry rule; a create is re-sent only after ``reconcile`` finds nothing."""
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                return self._send_once(request)
            except DataRobotApiError as error:
                step = wire.plan_retry(
                    self.retry_policy,
                    request,
                    error,
                    attempt,
                    time.monotonic() - started,
                    reconcile is not None,
                )
                if step is None:
                    raise
                if step.reconcile and reconcile is not None:
                    if (found := self._look_for_lost_create(request, error, reconcile)) is not None:
                        return found
                else:
                    self.log.warning("%s; retrying in %.1f s (attempt %d)", error, step.delay, attempt + 1)
                    time.sleep(step.delay)
                attempt += 1

    def _look_for_lost_create(
        self, request: ApiRequest, error: DataRobotApiError, reconcile: Callable[[], T | None]
    ) -> T | None:
        """Look again and again, over the reconcile window, for what a create with a lost answer made."""
        pauses = lost_creates.reconcile_pauses(request.timeout_within(self.settings.timeout))
        self.log.warning(
            "%s; it may still be carried out: looking for its effect over %.0f s before sending it again.",
            error,
            sum(pauses),
        )
        return lost_creates.keep_looking(pauses, reconcile)

    @wire.sealed
    def _send_once(self, request: ApiRequest) -> Any:
        settings = self.settings
        started = wire.request_started()
        try:
            status, headers, content = sync_transport.exchange(self._session, settings, request)
        except requests.exceptions.SSLError as err:
            log_request(self.log, request, "TLS error", started)
            raise wire.tls_error(request, settings.token, err) from None
        except (*sync_transport.REQUEST_NEVER_SENT, UnicodeError) as err:
            raise wire.unsendable(request, settings.api_url, settings.token, err) from None
        except requests.exceptions.RequestException as err:
            log_request(self.log, request, type(err).__name__, started)
            raise wire.connection_error(
                request, settings.api_url, settings.token, err, connected=sync_transport.requests_connected(err)
            ) from None
        except DataRobotApiError:
            log_request(self.log, request, "answer over its size cap", started)
            raise
        log_request(self.log, request, status, started)
        return wire.interpret_response(request, status, headers, content, settings.token)

    # --- connection test ----------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call that tells a bad token from an unreachable or foreign host.

        Called by the UI's **Test** button; it makes a single attempt, without retries, so the answer comes quickly.

        :return: ``(ok, message)``; the message says what is wrong and never contains the token.
        """
        probe = lost_creates.request_of(lambda api: api.list_pipelines(limit=1))
        try:  # one attempt, no retries: the UI waits for this answer
            wire.page_items("/pipelines", self._send_once(probe))
        except DataRobotConfigError as err:
            return False, str(err)
        except ApiAuthError as err:
            return False, f"The API token was refused (HTTP {err.status}): {err.detail}"
        except ApiConnectionError as err:
            return False, f"Cannot reach {self.settings.api_url}: {err}"
        except (ApiNotFoundError, ApiResponseError) as err:
            return False, f"{self.settings.api_url} does not look like a DataRobot pipelines API: {err}"
        except DataRobotApiError as err:
            return False, str(err)
        return True, f"Connected to the DataRobot pipelines API at {self.settings.api_url}."

    # --- run orchestration helpers used by operators, sensor and trigger ------------------------
    def run_url(self, pipeline_id: str, run_id: str) -> str:
        """Where a person looks at a run in the DataRobot UI (the connection's ``ui_url``, else its host).

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id.
        :return: the run page's URL; the extra link shows it.
        """
        return self.settings.run_url(pipeline_id, run_id)

    def resolve_version(self, pipeline_id: str, version: int | str) -> int | None:
        """The version number to run (``"latest"`` = newest locked one), or None for ``"draft"``.

        Fails with a message a DAG author can act on when the pipeline or version is missing or unlocked.

        :param pipeline_id: the pipeline's id.
        :param version: a locked version number, ``"latest"`` or ``"draft"`` (the operators' ``version``).
        :return: the version number, or None for the draft scope.
        :raises DataRobotConfigError: when the pipeline does not exist, the version does not, the pipeline is a
            draft but a version was asked for, or it is locked but ``"draft"`` was asked for.
        """
        try:
            pipeline: PipelineBody = self.get_pipeline(pipeline_id)
        except ApiNotFoundError:
            raise DataRobotConfigError(
                f"Pipeline {pipeline_id!r} does not exist (or is not visible to this token)."
            ) from None
        label = f"Pipeline {pipeline_id!r} ({pipeline.get('name', 'unnamed')})"
        if version == PipelineMode.DRAFT:
            if pipeline["mode"] != PipelineMode.DRAFT:
                raise DataRobotConfigError(
                    f"{label} is locked; it has no draft to run. Pass a version number or 'latest'."
                )
            return None
        if pipeline["mode"] != PipelineMode.LOCKED:
            raise DataRobotConfigError(
                f"{label} is a draft, not locked: lock it first (PATCH /pipelines/{{id}}/mode, "
                "`dr pipeline lock`), or pass version='draft' to run the draft on purpose."
            )
        numbers = sorted(numbered_versions(f"get_pipeline({pipeline_id})", pipeline))
        if version == LATEST_VERSION:
            if not numbers:
                raise DataRobotConfigError(f"{label} is locked but lists no versions.")
            latest: int = numbers[-1]
            return refuse_failed_version(label, pipeline, latest)
        if isinstance(version, bool) or not isinstance(version, int) or version not in numbers:
            raise DataRobotConfigError(
                f"{label} has no version {version!r}; its versions are {numbers or 'none'} (or pass 'latest')."
            )
        return refuse_failed_version(label, pipeline, version)

    def create_run_exactly_once(
        self,
        pipeline_id: str,
        input_id: str,
        version: int | None,
        image_id: str | None = None,
        known_run_ids: Collection[str] | None = None,
    ) -> dict[str, Any]:
        """Create a run; if the answer is lost, adopt the run that attempt created instead of making another.

        ``known_run_ids`` are the runs of ``input_id`` that existed before: pass an empty set for an input
        created just now; None makes the hook list them first.

        :param pipeline_id: the pipeline's id.
        :param input_id: the input to run, of the same scope.
        :param version: ``None`` for the draft, a number for that locked version.
        :param image_id: run in this execution image instead of the pipeline's.
        :param known_run_ids: runs of ``input_id`` that predate this call (None: list them now).
        :return: the run (``id``, ``status``, ...), created by this call or adopted.
        """
        listing = f"list_runs({pipeline_id}, {version})"
        if known_run_ids is None:
            earlier = self.runs_of_input(pipeline_id, version, input_id)
            known_run_ids = {required(listing, r, "id", str) for r in earlier}
        known = frozenset(known_run_ids)

        def adopt_lost_run() -> dict[str, Any] | None:
            created = self.run_created_since(pipeline_id, version, input_id, known)
            if created is not None:
                self.log.warning("Run create answer was lost; adopting run %s it created.", created["id"])
            return created

        create = lost_creates.request_of(lambda api: api.create_run(pipeline_id, input_id, version, image_id))
        run: dict[str, Any] = self._send(create, adopt_lost_run)
        return run

    def run_created_since(
        self, pipeline_id: str, version: int | None, input_id: str, known_run_ids: Collection[str]
    ) -> dict[str, Any] | None:
        """The run of ``input_id`` that a create made after ``known_run_ids`` were listed, if the server shows it.

        :param pipeline_id: the pipeline's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :param input_id: the input the create ran.
        :param known_run_ids: the runs of ``input_id`` listed before the create was sent.
        :return: that run, or None.
        """
        listing = f"list_runs({pipeline_id}, {version})"
        runs = self.runs_of_input(pipeline_id, version, input_id)
        created = [r for r in runs if required(listing, r, "id", str) not in known_run_ids]
        if not created:
            return None
        required(listing, created[0], "status", str)
        return created[0]

    def look_for_interrupted_run_create(
        self,
        pipeline_id: str,
        version: int | None,
        input_id: str,
        known_run_ids: Collection[str],
        sent_at: float,
        within: float | None = None,
    ) -> dict[str, Any] | None:
        """The run made by a create that was stopped before its answer (a kill, a timeout), looked for as lost.

        A server may carry out a create its client abandoned, for as long as a lost answer's create is taken to:
        the create's timeout, then the window its lost answer is looked for. So the run is looked for at once,
        then again until that long after ``sent_at``, or for at most ``within`` seconds.

        :param pipeline_id: the pipeline's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :param input_id: the input the create ran.
        :param known_run_ids: the runs of ``input_id`` listed before the create was sent.
        :param sent_at: wall-clock time (``time.time()``) the create was sent.
        :param within: the most seconds to spend looking (None: until the server can no longer carry it out).
        :return: the run, or None if none showed up.
        """
        create = lost_creates.request_of(lambda api: api.create_run(pipeline_id, input_id, version, None))
        pauses = lost_creates.interrupted_create_pauses(create.timeout_within(self.settings.timeout), sent_at, within)
        self.log.info("Looking for the run of an interrupted create for input %s over %.0f s.", input_id, sum(pauses))
        return lost_creates.keep_looking(
            pauses, lambda: self.run_created_since(pipeline_id, version, input_id, known_run_ids)
        )

    def with_own_session(self, retry_timeout: float | None = None) -> DataRobotPipelinesHook:
        """This hook on its own HTTP session, for ``on_kill``: a signal handler may interrupt this hook mid-request.

        :param retry_timeout: bound the copy's retries tighter, in seconds (None keeps this hook's bound).
        :return: a copy sharing the connection settings already read, never the session or its pool.
        """
        twin = copy.copy(self)
        twin.__dict__.pop("_session", None)
        if retry_timeout is not None:
            bound = min(self.retry_policy.max_total_seconds, retry_timeout)
            twin.retry_policy = dataclasses.replace(self.retry_policy, max_total_seconds=bound)
        return twin

    def create_input_exactly_once(
        self, pipeline_id: str, payload: dict[str, Any], version: int | None
    ) -> tuple[dict[str, Any], bool]:
        """Create an input; returns it and whether it is certainly new (then no earlier run can use it).

        If the answer is lost, an input with the same payload is adopted instead of creating a second one.

        :param pipeline_id: the pipeline's id.
        :param payload: the run's arguments, a JSON object.
        :param version: ``None`` for the draft, a number for that locked version.
        :return: ``(input, certainly_new)``; ``certainly_new`` is False when the input was adopted.
        """
        adopted: list[dict[str, Any]] = []

        def adopt_lost_input() -> dict[str, Any] | None:
            found = self.find_input_with_payload(pipeline_id, version, payload)
            if found is not None:
                input_id = required(f"list_inputs({pipeline_id}, {version})", found, "id", str)
                self.log.warning("Input create answer was lost; using input %s with the same payload.", input_id)
                adopted.append(found)
            return found

        create = lost_creates.request_of(lambda api: api.create_input(pipeline_id, payload, version))
        created: dict[str, Any] = self._send(create, reconcile=adopt_lost_input)
        return created, not adopted

    def send_exactly_once(self, build: Callable[[PipelinesApi[None]], None], done: Callable[[], T | None]) -> Any:
        """Send the create or change ``build`` makes; if its answer is lost, ``done`` looks for its effect first.

        The run path's rule for every other write: a lost answer is reconciled over the same window as a lost
        run create, and the request is re-sent only if ``done`` never sees its effect.

        :param build: calls one endpoint method on the builder it is given, e.g. ``lambda api: api.lock_pipeline(p)``.
        :param done: what the server shows once the request was carried out (returned as its answer), else None.
        :return: the request's answer, or what ``done`` found.
        """
        return self._send(replace(lost_creates.request_of(build), creates=True), reconcile=done)

    def wait_for_run(
        self,
        pipeline_id: str,
        run_id: str,
        version: int | None,
        *,
        poll_interval: float,
        max_poll_interval: float,
        started_at: float,
        deadline: float | None = None,
    ) -> str:
        """Poll the status endpoint until the run is terminal (or unknown); returns that status.

        Logs the run's progress as it goes (``utils.progress``: status changes, its tasks', a failed task's error).

        At ``deadline`` (wall clock) the run is cancelled and
        :class:`~airflow_provider_drpipelines.exceptions.PipelineRunTimeoutError` raised.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :param poll_interval: seconds between polls at the start.
        :param max_poll_interval: the longest pause; polls space out to 10 % of the run's age up to it.
        :param started_at: wall-clock time (``time.time()``) the wait began; adaptive polling measures the run's age
            from it.
        :param deadline: wall-clock time (``time.time()``) at which to give up and cancel; None waits for ever.
        :return: the terminal status, or an unknown one (never mistaken for success).
        :raises PipelineRunTimeoutError: at the deadline, after cancelling the run.
        """

        def timed_out(status: str) -> NoReturn:
            self.cancel_run_if_active(pipeline_id, run_id, version)
            raise PipelineRunTimeoutError(
                f"Pipeline run {run_id} was still {status} at its timeout and has been cancelled.",
                pipeline_id=pipeline_id,
                run_id=run_id,
                status=status,
            )

        from airflow_provider_drpipelines.client.steps import run_steps
        from airflow_provider_drpipelines.utils.progress import RunProgress

        progress = RunProgress(pipeline_id, run_id, max_poll_interval, self.log)

        def poll() -> str:
            answer: RunStatusBody = self.get_run_status(pipeline_id, run_id, version)
            run_steps(progress.observe(self, answer["status"], self.settings.token))
            return answer["status"]

        return poll_in_worker(
            poll,
            ends_wait,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            started_at=started_at,
            deadline=deadline,
            timed_out=timed_out,
        )

    def cancel_run_if_active(self, pipeline_id: str, run_id: str, version: int | None) -> bool:
        """Cancel a run; a run already terminal or gone is logged, not an error. True if this call cancelled it.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id.
        :param version: ``None`` for the draft, a number for that locked version.
        :return: True if this call cancelled the run, False if it had already ended or does not exist.
        """
        try:
            self.cancel_run(pipeline_id, run_id, version)
        except (ApiConflictError, ApiNotFoundError) as err:
            self.log.info("Run %s not cancelled: %s", run_id, err.detail)
            return False
        self.log.info("Cancelled pipeline run %s.", run_id)
        return True

    def describe_run_failure(
        self, pipeline_id: str, run_id: str, version: int | None, status: str, log_lines: int = 20
    ) -> str:
        """What a person needs in the task log about a run that failed (see ``hooks.run_failure``)."""
        from airflow_provider_drpipelines.hooks.run_failure import describe_run_failure

        return describe_run_failure(self, pipeline_id, run_id, version, status, log_lines)

    # --- async ----------------------------------------------------------------------------------
    async def aget_client(self) -> DataRobotPipelinesAsyncClient:
        """An async client whose HTTP session is shared with every trigger on this event loop and connection.

        It carries this hook's retry policy; use it from a trigger or other coroutine, never close its session.

        :return: a :class:`~airflow_provider_drpipelines.client.async_client.DataRobotPipelinesAsyncClient`.
        """
        from airflow_provider_drpipelines.client.async_client import DataRobotPipelinesAsyncClient, shared_session

        settings = await self.aget_settings()
        return DataRobotPipelinesAsyncClient(settings, await shared_session(settings), self.retry_policy)
