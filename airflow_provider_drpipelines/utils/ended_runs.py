"""Which runs of a pipeline ended since the last look, written once for the event trigger, the sensor's poke
and its trigger.

A :class:`RunWatch` is a scan written without I/O: a generator that yields the calls it needs (``("list_runs",
args, kwargs)``) and receives their answers, so :func:`drive` (the sync hook) and :func:`adrive` (the async
client) run the same logic. Runs are listed newest first (by ``createdAt``), but a run created long ago can end
now, so the watch keeps the runs it saw going (bounded) and reads the listing down to the oldest of them or to
the newest run of the previous scan, whichever is older; every read is bounded: ``max_pages`` pages of
``page_size`` runs per scope and poll, the ``max_versions`` newest locked versions, ``max_tracked`` runs kept.
"""

from __future__ import annotations

import copy
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final, TypeVar

from airflow_provider_drpipelines.client import wire
from airflow_provider_drpipelines.client.answers import broken_answer, required
from airflow_provider_drpipelines.exceptions import ApiNotFoundError, ApiResponseError, DataRobotConfigError
from airflow_provider_drpipelines.statuses import ACTIVE_RUN_STATUSES, TERMINAL_RUN_STATUSES, PipelineMode

#: A call the scan needs: the name of a ``PipelinesApi`` method, its positional and keyword arguments.
Call = tuple[str, tuple[Any, ...], dict[str, Any]]
Scan = Generator[Call, Any, list["EndedRun"]]
#: One run a scan read: ``{"version": the scope's number or None, "item": the run as the API sent it}``.
Observed = dict[str, Any]

T = TypeVar("T")

#: What ``version`` may say in this mode: None every locked version, a number that one, "draft" the draft.
EVERY_LOCKED_VERSION: Final = None


@dataclass(frozen=True)
class EndedRun:
    """A run seen terminal: ``ended_at`` is its ``updatedAt`` once terminal (RFC 3339, as the server sent it)."""

    run_id: str
    version: int | None
    status: str
    ended_at: str
    ended: datetime


def parse_time(value: Any, what: str) -> datetime:
    """An RFC 3339 / ISO-8601 time (``Z`` allowed) as an aware datetime; a naive one is taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise DataRobotConfigError(f"{what} is not an ISO-8601 time: {value!r}.") from None
    else:
        raise DataRobotConfigError(f"{what} must be a datetime or an ISO-8601 string, got {value!r}.")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def check_scope(version: Any) -> int | str | None:
    """The ``version`` of a watch: None (every locked version; a templated None renders ``"None"``), a positive
    number (or its string), or "draft"."""
    if version == "None":
        version = None
    if isinstance(version, str) and version.strip().isdigit():
        version = int(version)
    if version is EVERY_LOCKED_VERSION:
        return None
    if version == PipelineMode.DRAFT:
        return PipelineMode.DRAFT
    if isinstance(version, int) and not isinstance(version, bool) and version > 0:
        return version
    raise DataRobotConfigError(
        f"version must be None (every locked version), a version number or 'draft', got {version!r}."
    )


@dataclass
class RunWatch:
    """The runs of one pipeline scope that ended since the last scan, and what a next scan needs to know.

    :param pipeline_id: the pipeline.
    :param version: None for every locked version (the ``max_versions`` newest, re-read each scan), a number,
        or ``"draft"``.
    :param ended_after: count only runs whose ``updatedAt`` is later; None (the event trigger): count only runs
        that end after the first scan, which records what had already ended without reporting it.
    """

    pipeline_id: str
    version: int | str | None
    ended_after: datetime | None = None
    page_size: int = 100
    max_pages: int = 10
    max_versions: int = 20
    max_tracked: int = 1000
    #: Per scope ("draft" or the version number as a string): the newest ``createdAt`` listed and its run ids.
    marks: dict[str, list[Any]] = field(default_factory=dict)
    #: Runs seen going: id -> [version, createdAt]; insertion order, the oldest dropped past ``max_tracked``.
    active: dict[str, list[Any]] = field(default_factory=dict)
    #: Ids of runs already reported, newest last (bounded): a run listed twice is reported once.
    reported: list[str] = field(default_factory=list)
    baselined: bool = False

    # --- state kept across restarts (JSON) -------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"marks": self.marks, "active": self.active, "reported": self.reported, "baselined": self.baselined}

    def restore(self, state: Any) -> bool:
        """Take a stored :meth:`state`; False (and nothing changed) when it is not one."""
        if not isinstance(state, dict) or not all(
            isinstance(state.get(k), t) for k, t in (("marks", dict), ("active", dict), ("reported", list))
        ):
            return False
        self.marks, self.active = dict(state["marks"]), dict(state["active"])
        self.reported, self.baselined = [str(r) for r in state["reported"]], bool(state.get("baselined"))
        return True

    # --- the scan --------------------------------------------------------------------------------
    def scan(self) -> Scan:
        """One look: the runs that ended since the last one, oldest end first; a scan that fails changes nothing."""
        before = copy.deepcopy(self.state())
        try:
            return self.apply((yield from self.observe()))
        except BaseException:
            self.restore(before)
            raise

    def observe(self) -> Generator[Call, Any, list[Observed]]:
        """The runs this watch needs to see, read and checked but not yet taken in: what a shared poll fans out."""
        observed: list[Observed] = []
        for scope in (yield from self._scopes()):
            yield from self._list_scope(scope, observed)
        yield from self._recheck_unlisted(observed)
        return observed

    def apply(self, observed: list[Observed]) -> list[EndedRun]:
        """Take in what a scan observed (this watch's, or a shared poll's): the runs that ended, oldest end first."""
        ended: list[EndedRun] = []
        marks = copy.deepcopy(self.marks)  # what earlier scans had seen, per scope
        for seen in observed:
            version, item = seen["version"], seen["item"]
            what = f"runs of {self.pipeline_id}"
            run_id, status, created = _listed_run(what, item)
            key = _key(version)
            newest = self.marks.get(key)
            if newest is None or created > parse_time(newest[0], what):
                self.marks[key] = [item["createdAt"], [run_id]]
            elif created == parse_time(newest[0], what) and run_id not in newest[1]:
                newest[1].append(run_id)
            if run_id not in self.active and self._seen_before(marks.get(key), created, run_id, what):
                continue  # listed by an earlier scan, and not going then: nothing new
            self._observe(run_id, version, status, item, ended, what)
        self.baselined = True
        return sorted(ended, key=lambda run: run.ended)

    def _scopes(self) -> Generator[Call, Any, list[int | None]]:
        if self.version == PipelineMode.DRAFT:
            return [None]
        if isinstance(self.version, int):
            return [self.version]
        page = yield ("list_versions", (self.pipeline_id,), {"limit": self.max_versions})
        what = f"list_versions({self.pipeline_id})"
        items, _ = wire.page_items(what, page)
        return [required(what, item, "version", int) for item in items[: self.max_versions]]

    def _list_scope(self, version: int | None, observed: list[Observed]) -> Generator[Call, Any, None]:
        """Newest first, down to where earlier scans saw everything (at most ``max_pages`` pages)."""
        what = f"list_runs({self.pipeline_id}, {version})"
        stop = self._stop_at(_key(version))
        guard = wire.PageGuard(what, self.max_pages)
        for page_number in range(self.max_pages):
            page = yield (
                "list_runs",
                (self.pipeline_id, version),
                {"offset": page_number * self.page_size, "limit": self.page_size},
            )
            items, more = wire.page_items(what, page)
            if len(items) > self.page_size:
                raise ApiResponseError(
                    f"DataRobot pipelines API: {what} answered {len(items)} runs for a page of {self.page_size}.",
                    method="GET",
                    path=what,
                )
            guard.check(items)
            for item in items:
                _, _, created = _listed_run(what, item)
                if stop is not None and created < stop:
                    return
                observed.append({"version": version, "item": item})
            if not more:
                return

    @staticmethod
    def _seen_before(mark: list[Any] | None, created: datetime, run_id: str, what: str) -> bool:
        if mark is None:
            return False
        edge = parse_time(mark[0], what)
        return created < edge or (created == edge and run_id in mark[1])

    def _stop_at(self, key: str) -> datetime | None:
        """Listing may stop at runs created before both the last scan's newest and the oldest run seen going."""
        mark = self.marks.get(key)
        if mark is None:
            return None
        times = [parse_time(mark[0], "a stored mark")] + [
            parse_time(created, "a stored run") for version, created in self.active.values() if _key(version) == key
        ]
        return min(times)

    def _recheck_unlisted(self, observed: list[Observed]) -> Generator[Call, Any, None]:
        """Runs seen going that the bounded listing no longer reaches: read one by one (at most ``max_pages``)."""
        listed = {seen["item"].get("id") for seen in observed}
        for run_id, (version, _) in list(self.active.items())[: self.max_pages]:
            if run_id in listed:
                continue
            what = f"get_run({self.pipeline_id}, {run_id})"
            try:
                item = yield ("get_run", (self.pipeline_id, run_id, version), {})
            except ApiNotFoundError:
                self.active.pop(run_id, None)  # deleted with its pipeline version: it will not end
                continue
            _listed_run(what, item)
            observed.append({"version": version, "item": item})

    def _observe(
        self, run_id: str, version: int | None, status: str, item: dict[str, Any], ended: list[EndedRun], what: str
    ) -> None:
        if status in ACTIVE_RUN_STATUSES:
            if run_id not in self.active:
                self.active[run_id] = [version, item.get("createdAt")]
                while len(self.active) > self.max_tracked:
                    self.active.pop(next(iter(self.active)))
            return
        self.active.pop(run_id, None)
        if status not in TERMINAL_RUN_STATUSES or run_id in self.reported:
            return
        updated = required(what, item, "updatedAt", str)
        end = parse_time(updated, f"{what}: updatedAt")
        if (end <= self.ended_after) if self.ended_after is not None else not self.baselined:
            return  # ended too early, or before the event watch's first scan
        self.reported.append(run_id)
        del self.reported[: -self.max_tracked]
        ended.append(EndedRun(run_id, version, status, updated, end))


def _key(version: Any) -> str:
    return "draft" if version is None else str(version)


def _listed_run(what: str, item: dict[str, Any]) -> tuple[str, str, datetime]:
    run_id = required(what, item, "id", str)
    status = required(what, item, "status", str)
    created = required(what, item, "createdAt", str)
    try:
        return run_id, status, parse_time(created, "createdAt")
    except DataRobotConfigError:
        raise broken_answer(what, f"has a run whose createdAt is not a time: {created[:40]!r}") from None


def drive(scan: Generator[Call, Any, T], api: Any) -> T:
    """Run a scan on the sync hook; an API error raised by a call is thrown into the scan (which may handle it)."""
    try:
        call = next(scan)
        while True:
            name, args, kwargs = call
            try:
                answer = getattr(api, name)(*args, **kwargs)
            except Exception as err:
                call = scan.throw(err)
            else:
                call = scan.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def adrive(scan: Generator[Call, Any, T], client: Any) -> T:
    """Run a scan on the async client (the triggers)."""
    try:
        call = next(scan)
        while True:
            name, args, kwargs = call
            try:
                answer = await getattr(client, name)(*args, **kwargs)
            except Exception as err:
                call = scan.throw(err)
            else:
                call = scan.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
