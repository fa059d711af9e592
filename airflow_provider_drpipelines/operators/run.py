"""Operators that create pipeline inputs, run pipeline versions and cancel runs.

DAG files import them on every parse, so this module imports only what a DAG needs to be *defined*; the
hook (requests), the trigger and the API machinery are imported when a task runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_drpipelines.exceptions import (
    ApiConflictError,
    ApiNotFoundError,
    DataRobotConfigError,
    DataRobotPipelinesError,
    PipelineRunTimeoutError,
)
from airflow_provider_drpipelines.links import DataRobotPipelineRunLink
from airflow_provider_drpipelines.operators.base import PipelinesBaseOperator
from airflow_provider_drpipelines.statuses import (
    ACTIVE_RUN_STATUSES,
    SUCCESS_RUN_STATUSES,
    PipelineMode,
    ends_wait,
)
from airflow_provider_drpipelines.utils.pipeline_task import default_deferrable, positive_seconds
from airflow_provider_drpipelines.utils.results import DEFAULT_RESULT_SIZE_LIMIT, check_push_results, check_size_limit
from airflow_provider_drpipelines.utils.templating import check_payload_argument, resolve_payload
from airflow_provider_drpipelines.utils.tracked_runs import (
    RunCreate,
    TrackedRun,
    kill_budget,
    version_argument,
)
from airflow_provider_drpipelines.xcom_keys import (
    DRY_RUN_XCOM_KEY,
    RESULTS_XCOM_KEY,
    RUN_ID_XCOM_KEY,
    RUN_STATE_KEY,
    RUN_URL_XCOM_KEY,
    VERSION_XCOM_KEY,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class DataRobotCreatePipelineInputOperator(PipelinesBaseOperator):
    """Create a pipeline input (a JSON payload a run consumes) and return its id.

    :param pipeline_id: the pipeline.
    :param pipeline_name: or the exact name of an active pipeline (exactly one of the two).
    :param payload: a dict (templated; a value written as one ``{{ ... }}`` renders to its native type) or the
        path of a ``.json`` file. Must be a JSON object.
    :param version: a locked version number or ``"latest"``; None (default) or ``"draft"`` for the draft.
    """

    template_fields: Sequence[str] = ("pipeline_id", "pipeline_name", "payload", "version")
    template_ext: Sequence[str] = (".json",)

    def __init__(
        self,
        *,
        payload: dict[str, Any] | str,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        version: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_payload_argument(payload)
        self._set_pipeline(pipeline_id, pipeline_name)
        self.payload = payload
        self._payload_template = payload
        self.version = version

    def execute(self, context: Context) -> str:
        payload = resolve_payload(self._payload_template, self.payload)
        version_arg = version_argument(self.version, none_means_draft=True)
        self._resolve_pipeline()
        version = self._scope(version_arg)
        created, _ = self._call_or_diagnose_scope(
            version_arg, lambda: self.hook.create_input_exactly_once(self.pipeline_id, payload, version)
        )
        input_id: str = created["id"]
        self.log.info(
            "Created input %s for pipeline %s (%s).", input_id, self.pipeline_id, version or PipelineMode.DRAFT
        )
        return input_id


class DataRobotRunPipelineOperator(PipelinesBaseOperator):
    """Run a locked pipeline version and return the run id.

    :param pipeline_id: the pipeline.
    :param pipeline_name: or the exact name of an active pipeline (exactly one of the two; costs one call).
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
    :param cancel_on_kill: cancel the run when the task is killed (worker or deferred), or times out; a run whose
        create was in flight then is looked for and cancelled too.
    :param reuse_existing_run: adopt the newest unfinished run of the same version and input instead of
        starting another (for Airflow < 3.3; on 3.3+ the task state store already reattaches retries).
    :param durable: on Airflow >= 3.3, remember the run in the task state store so a retry after a crash
        reattaches to it instead of starting a duplicate.
    :param retry_failed_runs: False makes a FAILED or CANCELLED run fail the task without Airflow retries
        (the pipeline's code or a person ended it); an ERRORED run (a platform fault) is always retryable.
    :param dry_run: create nothing: check the pipeline, version, image, payload and input, return a report
        and fail listing every problem.
    :param push_results: after a COMPLETED run, push each task's status and small result value to the XCom
        ``pipeline_results`` (True: every task; a list: those tasks).
    :param result_size_limit: largest JSON-encoded result value (bytes) pushed; a larger one gives its size.
    :param inject_openlineage_parent_info: add this task's OpenLineage parent and root run identifiers to the
        payload under ``openlineage_parent``, so a pipeline emitting its own lineage nests under the Airflow
        run (needs ``payload`` and the ``openlineage`` extra).
    :param datarobot_pipelines_conn_id: the connection.
    :param hook_params: extra hook arguments (retry_limit, retry_delay, retry_max_delay, retry_timeout).
    """

    template_fields: Sequence[str] = ("pipeline_id", "pipeline_name", "version", "input_id", "payload", "image_id")
    template_ext: Sequence[str] = (".json",)
    operator_extra_links = (DataRobotPipelineRunLink(),)

    def __init__(
        self,
        *,
        version: int | str,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        input_id: str | None = None,
        payload: dict[str, Any] | str | None = None,
        image_id: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 10.0,
        max_poll_interval: float = 300.0,
        timeout: float | timedelta | None = None,
        cancel_on_kill: bool = True,
        reuse_existing_run: bool = False,
        durable: bool = True,
        retry_failed_runs: bool = True,
        dry_run: bool = False,
        push_results: bool | list[str] = False,
        result_size_limit: int = DEFAULT_RESULT_SIZE_LIMIT,
        inject_openlineage_parent_info: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_pipeline(pipeline_id, pipeline_name)
        if inject_openlineage_parent_info and payload is None:
            raise DataRobotConfigError(
                "inject_openlineage_parent_info needs payload=: an existing input is not changed."
            )
        if (input_id is None) == (payload is None):
            raise DataRobotConfigError("Pass exactly one of input_id and payload to DataRobotRunPipelineOperator.")
        if payload is not None:
            check_payload_argument(payload)
        if poll_interval <= 0 or max_poll_interval <= 0:
            raise DataRobotConfigError("poll_interval and max_poll_interval must be positive.")
        self.version = version
        self.input_id = input_id
        self.payload = payload
        self._payload_template = payload
        self.image_id = image_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout = positive_seconds(timeout, "timeout")
        self.cancel_on_kill = cancel_on_kill
        self.reuse_existing_run = reuse_existing_run
        self.durable = durable
        self.retry_failed_runs = retry_failed_runs
        self.dry_run_only = dry_run  # not ``dry_run``: that is BaseOperator's method
        self.push_results = check_push_results(push_results)
        if self.push_results is not False and not wait_for_completion:
            raise DataRobotConfigError("push_results needs wait_for_completion=True: results exist once the run ends.")
        self.result_size_limit = check_size_limit(result_size_limit)
        self.inject_openlineage_parent_info = inject_openlineage_parent_info
        self._waiting_on: TrackedRun | None = None
        self._creating: RunCreate | None = None
        self._killed = False

    # --- execute ------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        from airflow_provider_drpipelines.client.paths import require_id

        payload = None if self.payload is None else resolve_payload(self._payload_template, self.payload)
        if payload is not None and self.inject_openlineage_parent_info:
            from airflow_provider_drpipelines.utils.lineage import with_parent_info

            payload = with_parent_info(payload, context)
        if self.input_id is not None:
            require_id(self.input_id, "input_id")  # a blank rendered id fails before any API call
        version_arg = version_argument(self.version, none_means_draft=False)
        self._resolve_pipeline()
        if self.dry_run_only:
            return self._dry_run(context, version_arg, payload)
        run = self._reattach(context) or self._start(context, version_arg, payload)
        self._track(context, run)
        if not self.wait_for_completion:
            return run.run_id
        started_at = time.time()

        if ends_wait(run.status):
            return self._finish(context, run)
        if self.deferrable:
            self._defer(context, run, started_at)
        return self._wait_in_worker(context, run, started_at)

    @property
    def _result_tasks(self) -> list[str] | None:
        return self.push_results if isinstance(self.push_results, list) else None

    def _dry_run(self, context: Context, version_arg: int | str, payload: dict[str, Any] | None) -> dict[str, Any]:
        """Check what can be checked without creating anything; push the report, fail listing every problem."""
        from airflow_provider_drpipelines.utils.dry_run import RunRequest, dry_run

        request = RunRequest(self.pipeline_id, version_arg, self.input_id, payload, self.image_id, self._result_tasks)
        report = dry_run(self.hook, request)
        for check in report.checks:
            self.log.info("Dry run: %s: %s (%s)", check["check"], check["result"], check["detail"])
        if report.problems:
            context["ti"].xcom_push(key=DRY_RUN_XCOM_KEY, value=report.as_dict())
        report.raise_on_problems()
        return report.as_dict()

    def _task_state_store(self, context: Context) -> Any:
        """Airflow >= 3.3's per-task store that outlives a try; None before 3.3 or when not durable."""
        from airflow_provider_drpipelines.version_compat import task_state_store

        return task_state_store(context) if self.durable else None

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
        if (create := RunCreate.from_record(prior)) is not None:
            # An earlier try was stopped while its create was in flight (killed before it could find the run, or
            # with cancel_on_kill=False): that create may still be carried out, so wait for it before another.
            made = create.look_for_its_run(self.hook)
            if made is None:
                return None
            self.log.info("An earlier try was stopped while creating run %s.", made["id"])
            prior = {"run_id": made["id"], "version": create.version}

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

    def _start(self, context: Context, version_arg: int | str, payload: dict[str, Any] | None) -> TrackedRun:
        version = self._scope(version_arg)
        hook = self.hook
        if (names := self._result_tasks) is not None:
            from airflow_provider_drpipelines.utils.results import check_task_names

            self._call_or_diagnose_scope(version_arg, lambda: check_task_names(hook, self.pipeline_id, version, names))
        if self.reuse_existing_run and (adopted := self._existing_run(version, payload)) is not None:
            return adopted
        input_id, known_runs = self._input_to_run(version_arg, version, payload)
        if known_runs is None:
            known_runs = self._call_or_diagnose_scope(
                version_arg, lambda: {r["id"] for r in hook.runs_of_input(self.pipeline_id, version, input_id)}
            )
        create = RunCreate(self.pipeline_id, version, input_id, frozenset(known_runs), time.time())
        return self._create_run(context, version_arg, create)

    def _create_run(self, context: Context, version_arg: int | str, create: RunCreate) -> TrackedRun:
        """Create the run so that whatever stops the task meanwhile (a timeout, SIGTERM) leaves none going."""
        if self._killed:
            raise DataRobotPipelinesError("The task was killed before its run was created; no run was started.")
        store = self._task_state_store(context)
        if store is not None:
            store.set(RUN_STATE_KEY, create.as_record())
        self._creating = create
        try:
            created = self._call_or_diagnose_scope(
                version_arg,
                lambda: self.hook.create_run_exactly_once(
                    create.pipeline_id, create.input_id, create.version, self.image_id, create.known_run_ids
                ),
            )
        except DataRobotPipelinesError:
            self._creating = None
            raise
        except BaseException:
            # Airflow's execution timeout or its SIGTERM handler stopped the create: the server may carry it out.
            self._cancel_own_run(kill_budget())
            self._creating = None
            raise
        run = TrackedRun(create.pipeline_id, created["id"], create.version, created["status"])
        self._waiting_on, self._creating = run, None
        version = create.version or PipelineMode.DRAFT
        self.log.info("Started run %s of pipeline %s (%s).", run.run_id, run.pipeline_id, version)
        if self._killed:  # on_kill ran (Airflow 3's SIGTERM handler) while the create was in flight, and returned
            self._cancel_own_run(kill_budget())
            raise DataRobotPipelinesError(
                f"The task was killed while run {run.run_id} was being created; the run has been cancelled."
            )
        return run

    def _input_to_run(
        self, version_arg: int | str, version: int | None, payload: dict[str, Any] | None
    ) -> tuple[str, set[str] | None]:
        """The input id, and the runs known to use it: none for an input certainly created just now."""
        if payload is None:
            return str(self.input_id), None
        created, fresh = self._call_or_diagnose_scope(
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
    def _wait_in_worker(self, context: Context, run: TrackedRun, started_at: float) -> str:
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
        return self._finish(context, replace(run, status=status))

    def _defer(self, context: Context, run: TrackedRun, started_at: float, end_time: float | None = None) -> NoReturn:
        from airflow_provider_drpipelines.triggers.run import defer_on_run

        if end_time is None and self.timeout is not None:
            end_time = time.time() + self.timeout
        self._remember(context, run, deferred=True)
        defer_on_run(
            self,
            context,
            run,
            conn_id=self.datarobot_pipelines_conn_id,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            run_started_at=started_at,
            end_time=end_time,
            execution_deadline=self._execution_deadline(context),
            cancel_on_kill=self.cancel_on_kill,
            # Both come back to execute_complete, so a re-deferral keeps the original timeout and polling pace.
            resume={"end_time": end_time, "run_started_at": started_at},
        )

    def _execution_deadline(self, context: Context) -> float | None:
        """``execution_timeout`` as a wall-clock deadline: Airflow 3 does not enforce it while deferred."""
        if self.execution_timeout is None:
            return None
        from airflow_provider_drpipelines.version_compat import execution_deadline_lead

        started: datetime | None = getattr(context["ti"], "start_date", None)
        start = started.timestamp() if started else time.time()
        return start + self.execution_timeout.total_seconds() - execution_deadline_lead()

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        end_time: float | None = None,
        run_started_at: float | None = None,
    ) -> str:
        from airflow_provider_drpipelines.triggers import EVENT_ERROR, EVENT_TIMEOUT
        from airflow_provider_drpipelines.utils.pipeline_task import recheck_after_error_event
        from airflow_provider_drpipelines.utils.tracked_runs import validate_event

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
            status = recheck_after_error_event(
                event["message"],
                "The run",
                lambda: self.hook.get_run_status(run.pipeline_id, run.run_id, run.version)["status"],
            )
            run = replace(run, status=status)
            if not ends_wait(status):
                self.log.info("Run %s is %s; resuming the wait.", run.run_id, status)
                self._defer(context, run, run_started_at or time.time(), end_time)
        return self._finish(context, run)

    def _finish(self, context: Context, run: TrackedRun) -> str:
        from airflow_provider_drpipelines.utils.lineage import note_run_end
        from airflow_provider_drpipelines.utils.tracked_runs import raise_unless_completed

        self._waiting_on = None
        note_run_end(self, context, run.pipeline_id, run.run_id, run.version, run.status)
        raise_unless_completed(self.hook, run.pipeline_id, run.run_id, run.version, run.status, self.retry_failed_runs)
        self.log.info("Pipeline run %s COMPLETED.", run.run_id)
        if self.push_results is not False:
            from airflow_provider_drpipelines.utils.results import collect_results

            results = collect_results(
                self.hook, run.pipeline_id, run.run_id, self._result_tasks, self.result_size_limit
            )
            context["ti"].xcom_push(key=RESULTS_XCOM_KEY, value=results)
        return run.run_id

    def on_kill(self) -> None:
        """Cancel this try's run, or the one its interrupted create made; may run while that create is blocked.

        Logs and never raises: Airflow re-raises the error that stopped the task (an execution timeout) after
        calling this, and an error from here would replace it.
        """
        self._killed = True
        self._cancel_own_run(kill_budget())

    def _cancel_own_run(self, within: float | None) -> None:
        """Cancel the run this try follows or is creating, in ``within`` seconds (None: the hook's own bounds)."""
        if not self.cancel_on_kill:
            return
        try:
            # A hook of its own: on_kill may interrupt this operator's hook in the middle of a request.
            hook = self.hook.with_own_session(retry_timeout=within)
            if (run := self._waiting_on) is not None:
                hook.cancel_run_if_active(run.pipeline_id, run.run_id, run.version)
            elif (create := self._creating) is not None:
                made = create.look_for_its_run(hook, within)
                if made is None:
                    self.log.warning("The interrupted create for input %s left no run so far.", create.input_id)
                    return
                self._creating = None
                hook.cancel_run_if_active(create.pipeline_id, made["id"], create.version)
        except Exception as err:  # the error that stopped the task must stay the task's error
            self.log.warning(
                "Could not cancel this task's run (%s); it may still be going: check it in DataRobot.", err
            )


class DataRobotCancelPipelineRunOperator(PipelinesBaseOperator):
    """Cancel a pipeline run; returns True if this call cancelled it, False if it had already ended.

    :param pipeline_id: the pipeline.
    :param pipeline_name: or the exact name of an active pipeline (exactly one of the two).
    :param run_id: the run.
    :param version: the locked version the run belongs to, or None for a draft run.
    """

    template_fields: Sequence[str] = ("pipeline_id", "pipeline_name", "run_id", "version")

    def __init__(
        self,
        *,
        run_id: str,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        version: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_pipeline(pipeline_id, pipeline_name)
        self.run_id = run_id
        self.version = version

    def execute(self, context: Context) -> bool:
        from airflow_provider_drpipelines.client.paths import require_id

        require_id(self.run_id, "run_id")  # a blank rendered id fails before any API call
        self._resolve_pipeline()
        version = self._scope(version_argument(self.version, none_means_draft=True))
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
