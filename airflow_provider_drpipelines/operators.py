"""Operators: create pipeline inputs, run locked pipeline versions, cancel runs.

DAG files import this module on every parse, so it imports only what a DAG needs to be *defined*; the
hook (requests), the trigger and the API machinery are imported when a task runs.
"""

from __future__ import annotations

import ast
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_drpipelines.connection import DEFAULT_CONN_ID
from airflow_provider_drpipelines.exceptions import DataRobotConfigError
from airflow_provider_drpipelines.links import (
    RUN_ID_XCOM_KEY,
    RUN_URL_XCOM_KEY,
    VERSION_XCOM_KEY,
    DataRobotPipelineRunLink,
)
from airflow_provider_drpipelines.statuses import LATEST_VERSION, PipelineMode

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

T = TypeVar("T")
#: Key of the run this task started, in Airflow >= 3.3's task state store (kept across tries).
RUN_STATE_KEY = "datarobot_pipeline_run"
#: How long past its own deadlines a deferred wait may last before Airflow's backstop timeout fires.
DEFERRAL_GRACE = timedelta(minutes=2)
#: Airflow 2 enforces execution_timeout on deferred tasks itself, without cancelling the run: our
#: trigger's deadline comes this much earlier so it cancels first.
AIRFLOW2_EXECUTION_DEADLINE_LEAD = 30.0
_SINGLE_EXPRESSION = re.compile(r"\{\{(?:(?!\}\}).)*\}\}", re.DOTALL)


def _default_deferrable() -> bool:
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


def _seconds(value: float | timedelta | None, what: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise DataRobotConfigError(f"{what} must be positive, got {value!r}.")
    return seconds


def _check_payload_argument(payload: Any) -> None:
    """Refuse at DAG-parse time what can never be a JSON object (templates and XComArgs are checked later)."""
    if isinstance(payload, list | tuple | set | int | float | bool):
        raise DataRobotConfigError(
            f"payload must be a JSON object (dict) or the path of a .json file, got {type(payload).__name__}."
        )


def _native(template: Any, rendered: Any) -> Any:
    """Give a value written as exactly one ``{{ ... }}`` its native type, as Airflow's native rendering does."""
    if isinstance(rendered, dict) and isinstance(template, dict):
        return {key: _native(template.get(key), value) for key, value in rendered.items()}
    if isinstance(rendered, list) and isinstance(template, list) and len(rendered) == len(template):
        return [_native(t, r) for t, r in zip(template, rendered, strict=True)]
    if isinstance(rendered, str) and isinstance(template, str) and _SINGLE_EXPRESSION.fullmatch(template.strip()):
        try:
            value = ast.literal_eval(rendered)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return rendered
        return list(value) if isinstance(value, tuple) else value
    return rendered


def resolve_payload(template: Any, rendered: Any) -> dict[str, Any]:
    """The rendered ``payload`` argument as a JSON object, or a clear error before any API call."""
    from airflow_provider_drpipelines._endpoints import json_object_payload

    value = _native(template, rendered)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise DataRobotConfigError(
                f"payload is a string that is not JSON: {value[:80]!r}. Pass a dict, or the path of a .json "
                "file relative to the DAG folder or template_searchpath."
            ) from None
    return json_object_payload(value)


def _version_argument(version: Any, none_means_draft: bool) -> int | str:
    """Normalise ``version``: a number (or its string), ``"latest"``, ``"draft"``."""
    if version is None and none_means_draft:
        return PipelineMode.DRAFT
    if isinstance(version, str) and version.strip().isdigit():
        version = int(version)
    if version in (LATEST_VERSION, PipelineMode.DRAFT) or (
        isinstance(version, int) and not isinstance(version, bool) and version > 0
    ):
        return version  # type: ignore[no-any-return]
    allowed = "a version number, 'latest' or 'draft'" + (" (or None for the draft)" if none_means_draft else "")
    raise DataRobotConfigError(f"version must be {allowed}, got {version!r}.")


@dataclass(frozen=True)
class TrackedRun:
    """A run this task follows: the ids a trigger, the task state store or a retry needs."""

    pipeline_id: str
    run_id: str
    version: int | None
    status: str


class _PipelinesOperator(BaseOperator):
    """Connection handling and version scoping shared by the operators."""

    pipeline_id: str

    def __init__(
        self,
        *,
        datarobot_pipelines_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.datarobot_pipelines_conn_id = datarobot_pipelines_conn_id
        self.hook_params = hook_params or {}

    @cached_property
    def hook(self) -> DataRobotPipelinesHook:
        from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

        return DataRobotPipelinesHook(self.datarobot_pipelines_conn_id, **self.hook_params)

    def _scope(self, version: int | str) -> int | None:
        """The version number to address (``latest`` costs one call), or None for the draft."""
        if version == PipelineMode.DRAFT:
            return None
        if isinstance(version, int):
            return version
        return self.hook.resolve_version(self.pipeline_id, version)

    def _explained(self, version: int | str, call: Callable[[], T]) -> T:
        """Run a call in a version's scope; turn a bare 404/409 into what is wrong with pipeline or version."""
        from airflow_provider_drpipelines.exceptions import ApiConflictError, ApiNotFoundError

        try:
            return call()
        except (ApiNotFoundError, ApiConflictError):
            self.hook.resolve_version(self.pipeline_id, version)
            raise


class DataRobotCreatePipelineInputOperator(_PipelinesOperator):
    """Create a pipeline input (a JSON payload a run consumes) and return its id.

    :param pipeline_id: the pipeline.
    :param payload: a dict (templated; a value written as one ``{{ ... }}`` renders to its native type) or the
        path of a ``.json`` file. Must be a JSON object.
    :param version: a locked version number or ``"latest"``; None (default) or ``"draft"`` for the draft.
    """

    template_fields: Sequence[str] = ("pipeline_id", "payload", "version")
    template_ext: Sequence[str] = (".json",)

    def __init__(
        self, *, pipeline_id: str, payload: dict[str, Any] | str, version: int | str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        _check_payload_argument(payload)
        self.pipeline_id = pipeline_id
        self.payload = payload
        self._payload_template = payload
        self.version = version

    def execute(self, context: Context) -> str:
        payload = resolve_payload(self._payload_template, self.payload)
        version_arg = _version_argument(self.version, none_means_draft=True)
        version = self._scope(version_arg)
        created, _ = self._explained(
            version_arg, lambda: self.hook.create_input_exactly_once(self.pipeline_id, payload, version)
        )
        input_id: str = created["id"]
        self.log.info(
            "Created input %s for pipeline %s (%s).", input_id, self.pipeline_id, version or PipelineMode.DRAFT
        )
        return input_id


class DataRobotRunPipelineOperator(_PipelinesOperator):
    """Run a locked pipeline version and return the run id.

    :param pipeline_id: the pipeline.
    :param version: a locked version number, ``"latest"`` (the newest locked version), or ``"draft"`` to run
        the draft on purpose.
    :param input_id: an existing input to run with. Exactly one of ``input_id`` and ``payload``.
    :param payload: a payload to create the input from first (dict or ``.json`` path; see the input operator).
    :param image_id: execution image overriding the pipeline's linked one.
    :param wait_for_completion: wait until the run is terminal; False returns once the run exists.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :param poll_interval: seconds between status polls at first; polls then space out to 10 % of the run's age.
    :param max_poll_interval: the longest pause between two polls; equal to ``poll_interval`` for a fixed interval.
    :param timeout: how long to wait for the run; when it passes the run is cancelled and the task fails.
    :param cancel_on_kill: cancel the run when the task is killed (worker or deferred).
    :param reuse_existing_run: adopt the newest unfinished run of the same version and input instead of
        starting another (for Airflow < 3.3; on 3.3+ the task state store already reattaches retries).
    :param durable: on Airflow >= 3.3, remember the run in the task state store so a retry after a crash
        reattaches to it instead of starting a duplicate.
    :param datarobot_pipelines_conn_id: the connection.
    :param hook_params: extra hook arguments (retry_limit, retry_delay, retry_max_delay, retry_timeout).
    """

    template_fields: Sequence[str] = ("pipeline_id", "version", "input_id", "payload", "image_id")
    template_ext: Sequence[str] = (".json",)
    operator_extra_links = (DataRobotPipelineRunLink(),)

    def __init__(
        self,
        *,
        pipeline_id: str,
        version: int | str,
        input_id: str | None = None,
        payload: dict[str, Any] | str | None = None,
        image_id: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = _default_deferrable(),
        poll_interval: float = 10.0,
        max_poll_interval: float = 300.0,
        timeout: float | timedelta | None = None,
        cancel_on_kill: bool = True,
        reuse_existing_run: bool = False,
        durable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (input_id is None) == (payload is None):
            raise DataRobotConfigError("Pass exactly one of input_id and payload to DataRobotRunPipelineOperator.")
        if payload is not None:
            _check_payload_argument(payload)
        if poll_interval <= 0 or max_poll_interval <= 0:
            raise DataRobotConfigError("poll_interval and max_poll_interval must be positive.")
        self.pipeline_id = pipeline_id
        self.version = version
        self.input_id = input_id
        self.payload = payload
        self._payload_template = payload
        self.image_id = image_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout = _seconds(timeout, "timeout")
        self.cancel_on_kill = cancel_on_kill
        self.reuse_existing_run = reuse_existing_run
        self.durable = durable
        self._waiting_on: TrackedRun | None = None

    # --- execute ------------------------------------------------------------------------------
    def execute(self, context: Context) -> str:
        from airflow_provider_drpipelines._endpoints import require_id

        payload = None if self.payload is None else resolve_payload(self._payload_template, self.payload)
        if self.input_id is not None:
            require_id(self.input_id, "input_id")  # a blank rendered id fails before any API call
        version_arg = _version_argument(self.version, none_means_draft=False)
        run = self._reattach(context) or self._start(version_arg, payload)
        self._track(context, run)
        if not self.wait_for_completion:
            return run.run_id
        started_at = time.time()
        from airflow_provider_drpipelines.statuses import ends_wait

        if ends_wait(run.status):
            return self._finish(run.pipeline_id, run.run_id, run.version, run.status)
        if self.deferrable:
            self._defer(context, run, started_at)
        return self._wait_in_worker(run, started_at)

    def _task_state_store(self, context: Context) -> Any:
        """Airflow >= 3.3's per-task store that outlives a try; None before 3.3 or when not durable."""
        return context.get("task_state_store") if self.durable else None

    def _remember(self, context: Context, run: TrackedRun, deferred: bool) -> None:
        """Record the run for later tries; ``deferred`` marks that this try waits on it from the triggerer."""
        store = self._task_state_store(context)
        if store is not None:
            record = {"pipeline_id": run.pipeline_id, "run_id": run.run_id, "version": run.version}
            store.set(RUN_STATE_KEY, {**record, "deferred": True} if deferred else record)

    def _reattach(self, context: Context) -> TrackedRun | None:
        """Airflow >= 3.3: pick up the run an earlier try of this task started, if it is going or done."""
        store = self._task_state_store(context)
        prior = store.get(RUN_STATE_KEY) if store is not None else None
        if not isinstance(prior, dict) or prior.get("pipeline_id") != self.pipeline_id:
            return None
        from airflow_provider_drpipelines.exceptions import ApiNotFoundError
        from airflow_provider_drpipelines.statuses import ACTIVE_RUN_STATUSES, SUCCESS_RUN_STATUSES

        try:
            status = self.hook.get_run_status(self.pipeline_id, prior["run_id"], prior["version"])["status"]
        except ApiNotFoundError:
            return None
        if status not in ACTIVE_RUN_STATUSES | SUCCESS_RUN_STATUSES:
            self.log.info("Run %s of an earlier try ended %s; starting a new run.", prior["run_id"], status)
            return None
        if prior.get("deferred") and self.cancel_on_kill and status in ACTIVE_RUN_STATUSES:
            # The earlier try ended while its trigger waited: a person cleared or failed the task (or the
            # deferral timed out). The trigger's on_kill cancels that run, possibly after this try started,
            # so reattaching would follow a run about to be CANCELLED: cancel it now and start afresh.
            self.log.info("Run %s of an earlier try was killed while deferred; cancelling it.", prior["run_id"])
            self.hook.cancel_run_if_active(self.pipeline_id, prior["run_id"], prior["version"])
            return None
        self.log.info("Reattaching to run %s of an earlier try (%s).", prior["run_id"], status)
        return TrackedRun(self.pipeline_id, prior["run_id"], prior["version"], status)

    def _start(self, version_arg: int | str, payload: dict[str, Any] | None) -> TrackedRun:
        version = self._scope(version_arg)
        hook = self.hook
        if self.reuse_existing_run and (adopted := self._existing_run(version, payload)) is not None:
            return adopted
        input_id, known_runs = self._input_to_run(version_arg, version, payload)
        run = self._explained(
            version_arg,
            lambda: hook.create_run_exactly_once(self.pipeline_id, input_id, version, self.image_id, known_runs),
        )
        self.log.info("Started run %s of pipeline %s (%s).", run["id"], self.pipeline_id, version or PipelineMode.DRAFT)
        return TrackedRun(self.pipeline_id, run["id"], version, run["status"])

    def _input_to_run(
        self, version_arg: int | str, version: int | None, payload: dict[str, Any] | None
    ) -> tuple[str, set[str] | None]:
        """The input id, and the runs known to use it: none for an input certainly created just now."""
        if payload is None:
            return str(self.input_id), None
        created, fresh = self._explained(
            version_arg, lambda: self.hook.create_input_exactly_once(self.pipeline_id, payload, version)
        )
        return created["id"], (set() if fresh else None)

    def _existing_run(self, version: int | None, payload: dict[str, Any] | None) -> TrackedRun | None:
        hook = self.hook
        if payload is None:
            input_ids = {self.input_id} if self.input_id else set()
        else:
            input_ids = {i["id"] for i in hook.inputs_with_payload(self.pipeline_id, version, payload)}
        run = hook.find_active_run(self.pipeline_id, version, input_ids) if input_ids else None
        if run is None:
            return None
        self.log.info("reuse_existing_run: adopting unfinished run %s (%s).", run["id"], run["status"])
        return TrackedRun(self.pipeline_id, run["id"], version, run["status"])

    def _track(self, context: Context, run: TrackedRun) -> None:
        """Publish the run before any waiting, so links, downstream tasks and retries find it."""
        url = self.hook.run_url(run.pipeline_id, run.run_id)
        ti = context["ti"]
        ti.xcom_push(key=RUN_ID_XCOM_KEY, value=run.run_id)
        ti.xcom_push(key=RUN_URL_XCOM_KEY, value=url)
        ti.xcom_push(key=VERSION_XCOM_KEY, value=run.version)
        self._remember(context, run, deferred=False)
        self._waiting_on = run
        self.log.info("Pipeline run %s (%s): %s", run.run_id, run.status, url)

    # --- waiting --------------------------------------------------------------------------------
    def _wait_in_worker(self, run: TrackedRun, started_at: float) -> str:
        deadline = None if self.timeout is None else started_at + self.timeout
        status = self.hook.wait_for_run(
            run.pipeline_id,
            run.run_id,
            run.version,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            started_at=started_at,
            deadline=deadline,
        )
        return self._finish(run.pipeline_id, run.run_id, run.version, status)

    def _defer(self, context: Context, run: TrackedRun, started_at: float, end_time: float | None = None) -> NoReturn:
        from airflow_provider_drpipelines.triggers import DataRobotPipelineRunTrigger, task_instance_identity

        now = time.time()
        if end_time is None and self.timeout is not None:
            end_time = now + self.timeout
        execution_deadline = self._execution_deadline(context)
        trigger = DataRobotPipelineRunTrigger(
            pipeline_id=run.pipeline_id,
            run_id=run.run_id,
            version=run.version,
            conn_id=self.datarobot_pipelines_conn_id,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            run_started_at=started_at,
            end_time=end_time,
            execution_deadline=execution_deadline,
            cancel_on_kill=self.cancel_on_kill,
            **task_instance_identity(context["ti"]),
        )
        self._remember(context, run, deferred=True)
        deadlines = [d for d in (end_time, execution_deadline) if d is not None]
        backstop = timedelta(seconds=max(max(deadlines) - now, 0.0)) + DEFERRAL_GRACE if deadlines else None
        # Both come back to execute_complete, so a re-deferral keeps the original timeout and polling pace.
        resume = {"end_time": end_time, "run_started_at": started_at}
        self.defer(trigger=trigger, method_name="execute_complete", timeout=backstop, kwargs=resume)

    def _execution_deadline(self, context: Context) -> float | None:
        """``execution_timeout`` as a wall-clock deadline: Airflow 3 does not enforce it while deferred."""
        if self.execution_timeout is None:
            return None
        from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

        started: datetime | None = getattr(context["ti"], "start_date", None)
        start = started.timestamp() if started else time.time()
        lead = 0.0 if AIRFLOW_V_3_0_PLUS else AIRFLOW2_EXECUTION_DEADLINE_LEAD
        return start + self.execution_timeout.total_seconds() - lead

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        end_time: float | None = None,
        run_started_at: float | None = None,
    ) -> str:
        from airflow_provider_drpipelines._runs import validate_event
        from airflow_provider_drpipelines.exceptions import DataRobotApiError, PipelineRunTimeoutError
        from airflow_provider_drpipelines.statuses import ends_wait
        from airflow_provider_drpipelines.triggers import EVENT_ERROR, EVENT_TIMEOUT

        event = validate_event(event)
        run = TrackedRun(event["pipeline_id"], event["run_id"], event.get("version"), event["status"])
        if run.status == EVENT_TIMEOUT:
            # The trigger cancels at its deadline; this catches a cancel it could not deliver.
            self.hook.cancel_run_if_active(run.pipeline_id, run.run_id, run.version)
            raise PipelineRunTimeoutError(
                event["message"], pipeline_id=run.pipeline_id, run_id=run.run_id, status=run.status
            )
        if run.status == EVENT_ERROR:
            self.log.warning("%s Checking the run from the worker.", event["message"])
            try:
                status = self.hook.get_run_status(run.pipeline_id, run.run_id, run.version)["status"]
            except DataRobotApiError as err:
                raise DataRobotApiError(
                    f"{event['message']} The run could not be checked from the worker either ({err}); it may still "
                    "be going: check it in DataRobot.",
                    method=err.method,
                    path=err.path,
                    status=err.status,
                ) from err
            if not ends_wait(status):
                self.log.info("Run %s is %s; resuming the wait.", run.run_id, status)
                resumed = TrackedRun(run.pipeline_id, run.run_id, run.version, status)
                self._defer(context, resumed, run_started_at or time.time(), end_time)
            run = TrackedRun(run.pipeline_id, run.run_id, run.version, status)
        return self._finish(run.pipeline_id, run.run_id, run.version, run.status)

    def _finish(self, pipeline_id: str, run_id: str, version: int | None, status: str) -> str:
        from airflow_provider_drpipelines._runs import raise_unless_completed

        self._waiting_on = None
        raise_unless_completed(self.hook, pipeline_id, run_id, version, status)
        self.log.info("Pipeline run %s COMPLETED.", run_id)
        return run_id

    def on_kill(self) -> None:
        run = self._waiting_on
        if run is not None and self.cancel_on_kill:
            self.hook.cancel_run_if_active(run.pipeline_id, run.run_id, run.version)


class DataRobotCancelPipelineRunOperator(_PipelinesOperator):
    """Cancel a pipeline run; returns True if this call cancelled it, False if it had already ended.

    :param pipeline_id: the pipeline.
    :param run_id: the run.
    :param version: the locked version the run belongs to, or None for a draft run.
    """

    template_fields: Sequence[str] = ("pipeline_id", "run_id", "version")

    def __init__(self, *, pipeline_id: str, run_id: str, version: int | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline_id = pipeline_id
        self.run_id = run_id
        self.version = version

    def execute(self, context: Context) -> bool:
        from airflow_provider_drpipelines._endpoints import require_id
        from airflow_provider_drpipelines.exceptions import ApiConflictError, ApiNotFoundError

        require_id(self.run_id, "run_id")  # a blank rendered id fails before any API call
        version = self._scope(_version_argument(self.version, none_means_draft=True))
        try:
            self.hook.cancel_run(self.pipeline_id, self.run_id, version)
        except ApiConflictError as err:
            self.log.info("Run %s was not cancelled, it had already ended: %s", self.run_id, err.detail)
            return False
        except ApiNotFoundError as err:
            scope = "the draft" if version is None else f"version {version}"
            raise DataRobotConfigError(
                f"Run {self.run_id!r} was not found in {scope} of pipeline {self.pipeline_id!r} ({err.detail}). "
                "A run is addressed through the version it was started on: pass that version."
            ) from err
        self.log.info("Cancelled run %s.", self.run_id)
        return True
