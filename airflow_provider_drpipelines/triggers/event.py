"""``DataRobotPipelineRunEventTrigger``: an asset watcher's trigger that fires once per run that ends.

For ``Asset(..., watchers=[AssetWatcher(name=..., trigger=DataRobotPipelineRunEventTrigger(...))])`` on Airflow
>= 3.0: runs started by DataRobot's schedules, its UI or anyone's code then schedule a DAG. It fires on the
change (a run reaching one of ``statuses``), never on a state, so one run is one asset event.

What a restart does:

* Airflow >= 3.3: the watch's state (per scope the newest run listed, the runs seen going, the ids reported)
  is written to the watched asset's ``asset_state_store`` after every poll that changed it (a quiet poll writes
  nothing), before the poll's events are yielded, and read back when the trigger starts, in this triggerer or
  another. A run that ended while no triggerer ran fires once when the watch comes back; none fires twice. Only
  a stop between that write and the events reaching Airflow loses them (never-twice was chosen over never-miss).
  Watchers of one pipeline scope share one listing poll (a shared stream): the poll keeps its own state in
  memory and fans out what it read, and each watcher takes that in with its own stored state; a run a watcher
  saw going before a restart is then seen again only while the shared poll's listing (10 pages) reaches it.
* Airflow 3.0-3.2 (and a watcher on several assets, whose store has no single owner): the state is in memory.
  After a restart or a move the first poll records again what has ended without firing, so a run that ended
  between the last poll before the stop and the first poll after it never fires; no run fires twice.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS
from airflow.triggers.base import TriggerEvent

from airflow_provider_drpipelines import version_compat
from airflow_provider_drpipelines.connection import DEFAULT_CONN_ID
from airflow_provider_drpipelines.exceptions import DataRobotConfigError, DataRobotPipelinesError
from airflow_provider_drpipelines.statuses import TERMINAL_RUN_STATUSES, RunStatus
from airflow_provider_drpipelines.triggers.base import PollingTrigger
from airflow_provider_drpipelines.utils.ended_runs import EndedRun, RunWatch, adrive, check_scope
from airflow_provider_drpipelines.utils.names import check_pipeline_reference
from airflow_provider_drpipelines.version_compat import BaseEventTrigger

if TYPE_CHECKING:
    from airflow_provider_drpipelines.client.async_client import DataRobotPipelinesAsyncClient

CLASSPATH: Final = "airflow_provider_drpipelines.triggers.DataRobotPipelineRunEventTrigger"
#: Keys of every event's payload: Airflow stores it as the asset event's ``extra["payload"]``.
PAYLOAD_KEYS: Final = ("run_id", "pipeline_id", "version", "status", "url", "ended_at")
#: The longest pause a ``Retry-After`` may impose on the watch.
MAX_RETRY_AFTER: Final = 300.0


def check_statuses(statuses: Any) -> list[str]:
    """The terminal statuses to fire on, sorted and each once, so equal arguments serialize identically."""
    if isinstance(statuses, str) or not isinstance(statuses, Iterable):
        raise DataRobotConfigError(f"statuses must be a list of run statuses, got {statuses!r}.")
    chosen = list(statuses)
    unknown = [s for s in chosen if s not in TERMINAL_RUN_STATUSES]
    if unknown or not chosen:
        raise DataRobotConfigError(
            f"statuses must be a non-empty subset of {sorted(TERMINAL_RUN_STATUSES)}, got {statuses!r}."
        )
    return sorted(set(chosen))


def check_poll_interval(poll_interval: Any) -> float:
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, int | float) or not poll_interval > 0:
        raise DataRobotConfigError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}.")
    return float(poll_interval)


class DataRobotPipelineRunEventTrigger(PollingTrigger, BaseEventTrigger):
    """Fire ``{run_id, pipeline_id, version, status, url, ended_at}`` once for each run that ends in ``statuses``.

    Only runs that end after the watcher first started count. Each poll lists the runs newest first in pages of
    100, at most 10 pages per scope, down to the newest run of the previous poll or the oldest run it saw going,
    whichever is older (a run created long ago can end now); up to 1,000 runs seen going are kept. Runs it no
    longer reaches in the listing are read one by one (at most 10 a poll).

    :param pipeline_id: the pipeline.
    :param pipeline_name: or the exact name of an active pipeline (exactly one of the two; resolved once).
    :param version: None for every locked version (its 20 newest, re-read each poll), a version number, or
        ``"draft"`` for the draft's runs.
    :param statuses: the terminal statuses that fire: any of COMPLETED, FAILED, ERRORED, CANCELLED.
    :param poll_interval: seconds between two polls.
    :param datarobot_pipelines_conn_id: the ``datarobot_pipelines`` connection, read in the triggerer.
    """

    max_consecutive_errors = 10
    max_poll_interval = MAX_RETRY_AFTER

    def __init__(
        self,
        *,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        version: int | str | None = None,
        statuses: Iterable[str] = (RunStatus.COMPLETED,),
        poll_interval: float = 60.0,
        datarobot_pipelines_conn_id: str = DEFAULT_CONN_ID,
    ) -> None:
        if not AIRFLOW_V_3_0_PLUS:
            raise DataRobotConfigError(
                "DataRobotPipelineRunEventTrigger needs Airflow >= 3.0 (event-driven scheduling with AssetWatcher); "
                "on Airflow 2 use DataRobotPipelineRunSensor(ended_after=...)."
            )
        super().__init__()  # type: ignore[no-untyped-call]
        check_pipeline_reference(pipeline_id, pipeline_name, type(self).__name__)
        self.pipeline_id = pipeline_id
        self.pipeline_name = pipeline_name
        self.version = check_scope(version)
        self.statuses = check_statuses(statuses)
        self.poll_interval = check_poll_interval(poll_interval)
        self.conn_id = self.datarobot_pipelines_conn_id = datarobot_pipelines_conn_id
        self._watch: RunWatch | None = None
        self._store: Any = None
        self._stored_state: dict[str, Any] | None = None  # what the store holds, as this watch last wrote it
        self._producing = False  # the poll of a shared stream (Airflow >= 3.3), not a watcher

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "pipeline_id": self.pipeline_id,
                "pipeline_name": self.pipeline_name,
                "version": self.version,
                "statuses": list(self.statuses),
                "poll_interval": self.poll_interval,
                "datarobot_pipelines_conn_id": self.datarobot_pipelines_conn_id,
            },
        )

    @property
    def state_key(self) -> str:
        """The key of this watch's state in the asset's store: watchers of one asset with other arguments differ."""
        digest = hashlib.sha256(json.dumps(self.serialize()[1], sort_keys=True).encode()).hexdigest()[:16]
        return f"drpipelines.run_watch.{digest}"

    # --- the watch -------------------------------------------------------------------------------
    async def run(self) -> AsyncIterator[TriggerEvent]:
        async for event in self._events():
            yield TriggerEvent(event)  # type: ignore[no-untyped-call]

    async def _poll_events(self, client: DataRobotPipelinesAsyncClient) -> list[dict[str, Any]]:
        watch = self._watch or await self._start_watch()
        if self._producing:  # the one poll of a shared stream: hand out what it read, each watcher takes it in
            observed = await adrive(watch.observe(), client)
            watch.apply(observed)
            urls = {
                str(seen["item"]["id"]): client.settings.run_url(watch.pipeline_id, seen["item"]["id"])
                for seen in observed
            }
            return [{"observed": observed, "urls": urls}]
        ended = await adrive(watch.scan(), client)
        return await self._take(watch, ended, partial(client.settings.run_url, watch.pipeline_id))

    async def _take(self, watch: RunWatch, ended: list[EndedRun], url: Callable[[str], str]) -> list[dict[str, Any]]:
        """Store the watch's state, then hand out the events of the runs that ended in ``statuses``."""
        state = watch.state()
        if self._store is not None and state != self._stored_state:  # an unchanged state is not written again
            await self._store.aset(self.state_key, state)  # before the events: never twice
            self._stored_state = copy.deepcopy(state)  # the watch goes on changing its own
        return [self._payload(run, url(run.run_id)) for run in ended if run.status in self.statuses]

    # --- one poll for every watcher of a pipeline (Airflow >= 3.3) ---------------------------------
    def shared_stream_key(self) -> Hashable | None:
        """Watchers of one pipeline scope share one listing poll, whatever ``statuses`` each fires on."""
        return (CLASSPATH, self.conn_id, self.pipeline_id, self.pipeline_name, self.version, self.poll_interval)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """Poll as a watch does, on its own state in memory, and yield each poll's runs to every watcher."""
        producer = cls(**kwargs)
        producer._producing = True
        async for batch in producer._events():
            yield batch

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """Take each shared poll in with this watcher's own state (restored from its asset's store)."""
        async for batch in shared_stream:
            watch = self._watch or await self._start_watch()
            ended = watch.apply(batch["observed"])
            urls: dict[str, str] = batch["urls"]
            for event in await self._take(watch, ended, urls.__getitem__):
                yield TriggerEvent(event)  # type: ignore[no-untyped-call]

    async def _start_watch(self) -> RunWatch:
        """The pipeline's id (a name costs one lookup, in a thread) and the state a previous triggerer stored."""
        if self.pipeline_id is None:
            from asgiref.sync import sync_to_async

            from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
            from airflow_provider_drpipelines.utils.names import resolve_pipeline_id

            hook = DataRobotPipelinesHook(self.conn_id)
            self.pipeline_id = await sync_to_async(resolve_pipeline_id)(hook, str(self.pipeline_name))
        watch = RunWatch(self.pipeline_id, self.version)
        on_3_3 = version_compat.ASSET_STATE_STORE and not self._producing
        stores = getattr(self, "asset_state_store", None) if on_3_3 else None
        if stores is not None:
            try:
                stored = await stores.aget(self.state_key)
            except ValueError as err:  # watching several assets: no single store owns the state
                self.log.warning("Keeping the watch's state in memory: %s", err)
            else:
                self._store = stores
                if watch.restore(stored):
                    self._stored_state = copy.deepcopy(watch.state())
                    self.log.info("Watching runs of pipeline %s from the state its asset stored.", self.pipeline_id)
        self._watch = watch
        return watch

    def _payload(self, run: EndedRun, url: str) -> dict[str, Any]:
        return {
            "run_id": run.run_id,
            "pipeline_id": str(self.pipeline_id),
            "version": run.version,
            "status": run.status,
            "url": url,
            "ended_at": run.ended_at,
        }

    # --- what the polling base asks --------------------------------------------------------------
    @property
    def _wait_started_at(self) -> float:
        """Always now: the watch polls at ``poll_interval`` however long it has been watching."""
        return time.time()

    def _stopped(self) -> str:
        return f"Stopped watching the runs of pipeline {self.pipeline_id or self.pipeline_name!r}"

    def _deadlines(self) -> list[tuple[float, str]]:
        return []

    def _event(self, status: str, message: str) -> dict[str, Any]:
        """A watch has no error event (it would be an asset event): it fails, and Airflow logs why."""
        raise DataRobotPipelinesError(message)
