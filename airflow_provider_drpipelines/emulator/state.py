"""The emulator's in-memory store: pipelines, versions, inputs, runs, schedules and images.

Every mutation happens under one lock: uvicorn serves from one event loop, but in-process users
(``EmulatorServer`` in tests) may touch the store from other threads. Status that changes with
time (runs, image builds) is never stored; it is derived from timestamps when read.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from airflow_provider_drpipelines.emulator.config import EmulatorConfig
from airflow_provider_drpipelines.emulator.cron import (
    cron_error,
    last_fire_at_or_before,
    next_fire_after,
    timezone_error,
)
from airflow_provider_drpipelines.emulator.runs import Run, parse_script
from airflow_provider_drpipelines.emulator.source import ParsedPipeline, SourceError, parse_pipeline
from airflow_provider_drpipelines.emulator.wire import (
    ApiError,
    JSONObject,
    conflict,
    invalid,
    new_id,
    not_found,
)
from airflow_provider_drpipelines.statuses import (
    EMULATOR_SCRIPT_KEY,
    ImageStatus,
    InputState,
    PipelineMode,
    RunTrigger,
    ScheduleStatus,
    VersionStatus,
)

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class PipelineVersion:
    """A version is PENDING while the service traces it (``ready_at``), then READY, or FAILED if tracing fails."""

    number: int
    source: str
    filename: str
    parsed: ParsedPipeline
    created_at: float
    ready_at: float

    def status(self, now: float) -> str:
        if now < self.ready_at:
            return VersionStatus.PENDING
        return VersionStatus.FAILED if self.parsed.trace_error else VersionStatus.READY

    def error_detail(self, now: float) -> str | None:
        return self.parsed.trace_error if self.status(now) == VersionStatus.FAILED else None


@dataclass
class Pipeline:
    id: str
    name: str
    description: str | None
    mode: str
    image_id: str | None
    versions: list[PipelineVersion]
    created_at: float
    updated_at: float

    @property
    def latest(self) -> PipelineVersion:
        return self.versions[-1]


@dataclass(frozen=True)
class PipelineScope:
    """Where a request lands: the draft (its newest source, ``locked_version`` None) or a locked version."""

    pipeline: Pipeline
    version: PipelineVersion
    locked_version: int | None


@dataclass
class Input:
    id: str
    pipeline_id: str
    version: int | None
    payload: JSONObject
    created_at: float
    updated_at: float
    #: Why the payload does not fit the pipeline's signature (state INVALID); empty when VALID.
    problems: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return InputState.INVALID if self.problems else InputState.VALID


@dataclass
class Schedule:
    id: str
    pipeline_id: str
    version: int
    input_id: str
    image_id: str | None
    image_version: int | None
    cron_expression: str
    timezone: str
    created_at: float
    updated_at: float
    #: ACTIVE or PAUSED (a deleted schedule is gone from the store).
    status: str = ScheduleStatus.ACTIVE
    #: The next cron tick, epoch seconds: when the emulator's clock reaches it, the schedule fires.
    next_fire_at: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.plan_from(self.updated_at)

    def plan_from(self, moment: float) -> None:
        """Aim at the first tick after ``moment`` (a new schedule, a changed cron or zone, a resume)."""
        self.next_fire_at = next_fire_after(self.cron_expression, self.timezone, moment)


@dataclass
class ImageVersion:
    number: int
    definition: JSONObject
    created_at: float
    ready_at: float
    deleted: bool = False
    #: The pip error that fails the build (ERROR once built); None for a build that succeeds.
    build_error: str | None = None

    def status(self, now: float) -> str:
        if now < self.ready_at:
            return ImageStatus.CREATING
        return ImageStatus.ERROR if self.build_error else ImageStatus.READY


@dataclass
class Image:
    id: str
    name: str
    description: str | None
    versions: list[ImageVersion] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def active_versions(self) -> list[ImageVersion]:
        """Newest first, as the service lists them."""
        return [version for version in reversed(self.versions) if not version.deleted]


#: A pip requirement the emulator's "build" accepts: a name, optional extras, version specifiers, a marker.
_REQUIREMENT = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._,-]+\])?"
    r"(?:\s*(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+(?:\s*,\s*(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+)*)?"
    r"(?:\s*;.*)?$"
)


def build_error(packages: list[str]) -> str | None:
    """The pip error an image build with these packages ends in, as pip words it; None when it builds."""
    bad = next((spec for spec in packages if not _REQUIREMENT.match(spec.strip())), None)
    return None if bad is None else f"ERROR: Invalid requirement: {bad!r}"


def newest_first(items: Iterable[T], created: Callable[[T], float]) -> list[T]:
    """Newest first; items created at the same instant (a frozen clock) keep their reverse creation order."""
    return sorted(items, key=created)[::-1]


class Store:
    """All emulator state, plus the API's rules that decide 404/409/422."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.pipelines: dict[str, Pipeline] = {}
            self.inputs: dict[str, Input] = {}
            self.runs: dict[str, Run] = {}
            self.schedules: dict[str, Schedule] = {}
            self.images: dict[str, Image] = {}

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {
                "pipelines": len(self.pipelines),
                "inputs": len(self.inputs),
                "runs": len(self.runs),
                "schedules": len(self.schedules),
                "images": len(self.images),
            }

    # -- pipelines -------------------------------------------------------------------------------

    def pipeline(self, pid: str) -> Pipeline:
        found = self.pipelines.get(pid)
        if found is None:
            raise not_found(f"Pipeline {pid} not found")
        return found

    def draft_pipeline(self, pid: str) -> Pipeline:
        """A pipeline that may still change: locked ones are immutable (409)."""
        pipeline = self.pipeline(pid)
        if pipeline.mode == PipelineMode.LOCKED:
            raise conflict(f"Pipeline {pid} is locked; locked pipelines are immutable")
        return pipeline

    def scope(self, pid: str, locked_version: int | None) -> PipelineScope:
        """Resolve the draft scope (``locked_version`` None) or the locked scope ``/versions/{locked_version}``."""
        pipeline = self.pipeline(pid)
        if locked_version is None:
            return PipelineScope(pipeline, pipeline.latest, None)
        if pipeline.mode != PipelineMode.LOCKED:
            raise conflict(f"Pipeline {pid} is not locked; version {locked_version} cannot be used in locked scope")
        return PipelineScope(pipeline, self.version(pipeline, locked_version), locked_version)

    def writable_scope(self, pid: str, locked_version: int | None) -> PipelineScope:
        """A scope that may get new inputs and runs: draft scope of a locked pipeline may not."""
        scope = self.scope(pid, locked_version)
        if locked_version is None and scope.pipeline.mode == PipelineMode.LOCKED:
            raise conflict(f"Pipeline {pid} is locked; use the locked scope /versions/{{n}}")
        return scope

    @staticmethod
    def version(pipeline: Pipeline, number: int) -> PipelineVersion:
        if not 1 <= number <= len(pipeline.versions):
            raise not_found(f"Version {number} of pipeline {pipeline.id} not found")
        return pipeline.versions[number - 1]

    @staticmethod
    def _parse(text: str, filename: str) -> ParsedPipeline:
        try:
            return parse_pipeline(text, filename)
        except SourceError as exc:
            raise ApiError(400, str(exc)) from None

    def _new_version(self, number: int, text: str, filename: str, parsed: ParsedPipeline) -> PipelineVersion:
        now = self.clock()
        return PipelineVersion(number, text, filename, parsed, now, now + self.config.version_seconds)

    def _linkable_image(self, image_id: str | None) -> str | None:
        if image_id:
            self.image(image_id)
        return image_id or None

    def create_pipeline(
        self,
        text: str,
        filename: str,
        name: str | None,
        description: str | None,
        mode: str | None,
        image_id: str | None,
    ) -> Pipeline:
        parsed = self._parse(text, filename)
        if mode not in (None, "", PipelineMode.DRAFT, PipelineMode.LOCKED):
            raise invalid(("body", "mode"), "mode must be 'draft' or 'locked'", mode)
        with self.lock:
            now = self.clock()
            pipeline = Pipeline(
                id=new_id(),
                name=name or parsed.default_name,
                description=description or None,
                mode=mode or PipelineMode.DRAFT,
                image_id=self._linkable_image(image_id),
                versions=[self._new_version(1, text, filename, parsed)],
                created_at=now,
                updated_at=now,
            )
            self.pipelines[pipeline.id] = pipeline
            return pipeline

    def update_pipeline(
        self,
        pid: str,
        text: str | None,
        filename: str,
        name: str | None,
        description: str | None,
        image_id: str | None,
    ) -> Pipeline:
        with self.lock:
            pipeline = self.draft_pipeline(pid)
            if text is not None:
                parsed = self._parse(text, filename)
                expected = pipeline.latest.parsed.function_name
                if parsed.function_name != expected:
                    raise ApiError(
                        400,
                        f"pipeline name mismatch: {filename} defines @pipeline {parsed.function_name!r}, "
                        f"but pipeline {pid} is {expected!r}",
                    )
                pipeline.versions.append(self._new_version(len(pipeline.versions) + 1, text, filename, parsed))
            if name:
                pipeline.name = name
            if description is not None:
                pipeline.description = description or None
            if image_id is not None:
                pipeline.image_id = self._linkable_image(image_id)
            pipeline.updated_at = self.clock()
            return pipeline

    def delete_pipeline(self, pid: str) -> None:
        with self.lock:
            self.pipeline(pid)
            del self.pipelines[pid]
            for schedule in [s for s in self.schedules.values() if s.pipeline_id == pid]:
                del self.schedules[schedule.id]

    def lock_pipeline(self, pid: str) -> Pipeline:
        with self.lock:
            pipeline = self.pipeline(pid)
            if pipeline.mode == PipelineMode.LOCKED:
                raise conflict(f"Pipeline {pid} is already locked")
            pipeline.mode = PipelineMode.LOCKED
            pipeline.updated_at = self.clock()
            return pipeline

    def clone_pipeline(self, pid: str, name: str | None) -> Pipeline:
        with self.lock:
            source = self.pipeline(pid)
            taken = {pipeline.name for pipeline in self.pipelines.values()}
            base = name or f"Clone of {source.name}"
            clone_name, suffix = base, 2
            while not name and clone_name in taken:
                clone_name, suffix = f"{base} ({suffix})", suffix + 1
            latest = source.latest
            clone = self.create_pipeline(
                latest.source, latest.filename, clone_name, source.description, None, source.image_id
            )
            source_inputs = [i for i in self.inputs.values() if i.pipeline_id == pid]
            if source_inputs:
                newest = max(source_inputs, key=lambda i: i.created_at)
                self.create_input(clone.id, None, dict(newest.payload))
            return clone

    def list_pipelines(self, mode: str | None, search: str | None) -> list[Pipeline]:
        with self.lock:
            found = [
                p
                for p in self.pipelines.values()
                if (not mode or p.mode == mode) and (not search or search.lower() in p.name.lower())
            ]
        return newest_first(found, lambda p: p.created_at)

    # -- inputs ----------------------------------------------------------------------------------

    def create_input(self, pid: str, locked_version: int | None, payload: JSONObject) -> Input:
        with self.lock:
            scope = self.writable_scope(pid, locked_version)
            parse_script(payload, scope.version.parsed)
            now = self.clock()
            created = Input(new_id(), pid, locked_version, payload, now, now, self._payload_problems(scope, payload))
            self.inputs[created.id] = created
            return created

    @staticmethod
    def _payload_problems(scope: PipelineScope, payload: JSONObject) -> list[str]:
        return scope.version.parsed.payload_problems(payload, EMULATOR_SCRIPT_KEY)

    def list_inputs(self, pid: str, locked_version: int | None) -> list[Input]:
        with self.lock:
            self.scope(pid, locked_version)
            found = [i for i in self.inputs.values() if i.pipeline_id == pid and i.version == locked_version]
        return newest_first(found, lambda i: i.created_at)

    def input(self, pid: str, locked_version: int | None, iid: str) -> Input:
        self.scope(pid, locked_version)
        found = self.inputs.get(iid)
        if found is None or found.pipeline_id != pid or found.version != locked_version:
            raise not_found(f"Input {iid} not found")
        return found

    def update_input(self, pid: str, locked_version: int | None, iid: str, payload: JSONObject) -> Input:
        with self.lock:
            found = self.input(pid, locked_version, iid)
            if locked_version is not None:
                raise conflict(f"Input {iid} belongs to locked version {locked_version}; locked inputs are immutable")
            scope = self.writable_scope(pid, None)
            parse_script(payload, scope.version.parsed)
            found.payload = payload
            found.problems = self._payload_problems(scope, payload)
            found.updated_at = self.clock()
            return found

    def delete_input(self, pid: str, locked_version: int | None, iid: str) -> None:
        with self.lock:
            self.input(pid, locked_version, iid)
            del self.inputs[iid]

    # -- runs ------------------------------------------------------------------------------------

    def create_run(
        self,
        pid: str,
        locked_version: int | None,
        input_id: str,
        image_id: str | None,
        *,
        image_version: int | None = None,
        triggered_by: str = RunTrigger.API,
        created_at: float | None = None,
    ) -> Run:
        """A new run; a schedule passes its snapshotted image version, ``schedule`` and the tick it fired on."""
        with self.lock:
            scope = self.writable_scope(pid, locked_version)
            source = self.inputs.get(input_id)
            if source is None or source.pipeline_id != pid:
                raise not_found(f"Input {input_id} not found in pipeline {pid}")
            if source.version != locked_version:
                where = "the draft" if source.version is None else f"version {source.version}"
                here = "the draft" if locked_version is None else f"version {locked_version}"
                raise conflict(f"Input {input_id} belongs to {where}, not {here}")
            if scope.version.status(self.clock()) == VersionStatus.FAILED:
                raise conflict(
                    f"Version {scope.version.number} of pipeline {pid} is FAILED: {scope.version.parsed.trace_error}"
                )
            script = parse_script(source.payload, scope.version.parsed)
            image_id = image_id or scope.pipeline.image_id
            if image_id and image_version is None:
                image_version = self.image(image_id).active_versions[0].number
            run = Run(
                id=new_id(),
                pipeline_id=pid,
                version=locked_version,
                input_id=input_id,
                image_id=image_id,
                image_version=image_version if image_id else None,
                created_at=self.clock() if created_at is None else created_at,
                duration=self.config.run_seconds if script.seconds is None else script.seconds,
                outcome=script.outcome,
                failing_task=script.failing_task,
                payload=source.payload,
                pipeline=scope.version.parsed,
                filename=scope.version.filename,
                triggered_by=triggered_by,
            )
            self.runs[run.id] = run
            return run

    def list_runs(self, pid: str, locked_version: int | None) -> list[Run]:
        with self.lock:
            self.scope(pid, locked_version)
            found = [r for r in self.runs.values() if r.pipeline_id == pid and r.version == locked_version]
        return newest_first(found, lambda r: r.created_at)

    def run(self, pid: str, locked_version: int | None, did: str) -> Run:
        """A run seen through its scope: a locked run is not found under the draft path, and vice versa."""
        self.scope(pid, locked_version)
        found = self.runs.get(did)
        if found is None or found.pipeline_id != pid or found.version != locked_version:
            raise not_found(f"Run {did} not found")
        return found

    def any_run(self, pid: str, did: str) -> Run:
        """A run by dispatch id alone, as the run-task routes (no version segment) find it."""
        self.pipeline(pid)
        found = self.runs.get(did)
        if found is None or found.pipeline_id != pid:
            raise not_found(f"Run {did} not found")
        return found

    def cancel_run(self, pid: str, locked_version: int | None, did: str) -> None:
        with self.lock:
            terminal = self.run(pid, locked_version, did).cancel(self.clock())
            if terminal is not None:
                raise conflict(f"Run {did} is already terminal ({terminal})")

    # -- schedules -------------------------------------------------------------------------------

    @staticmethod
    def _check_schedule_fields(cron_expression: str | None, timezone: str | None) -> None:
        problem = None if cron_expression is None else cron_error(cron_expression)
        if problem:
            raise invalid(("body", "cron_expression"), problem, cron_expression)
        problem = None if timezone is None else timezone_error(timezone)
        if problem:
            raise invalid(("body", "timezone"), problem, timezone)

    def create_schedule(
        self,
        pid: str,
        version: int,
        input_id: str,
        cron_expression: str,
        timezone: str,
        image_id: str | None,
        image_version: int | None,
    ) -> Schedule:
        self._check_schedule_fields(cron_expression, timezone)
        with self.lock:
            self.scope(pid, version)
            self.input(pid, version, input_id)
            if image_id:
                image = self.image(image_id)
                numbers = [v.number for v in image.active_versions]
                if image_version is not None and image_version not in numbers:
                    raise not_found(f"Version {image_version} of image {image_id} not found")
                image_version = image_version or numbers[0]
            now = self.clock()
            schedule = Schedule(
                new_id(),
                pid,
                version,
                input_id,
                image_id or None,
                image_version,
                cron_expression,
                timezone,
                now,
                now,
            )
            self.schedules[schedule.id] = schedule
            return schedule

    def list_schedules(self, pid: str) -> list[Schedule]:
        with self.lock:
            self.pipeline(pid)
            found = [s for s in self.schedules.values() if s.pipeline_id == pid]
        return newest_first(found, lambda s: s.created_at)

    def schedule(self, pid: str, sid: str) -> Schedule:
        self.pipeline(pid)
        found = self.schedules.get(sid)
        if found is None or found.pipeline_id != pid:
            raise not_found(f"Schedule {sid} not found")
        return found

    def update_schedule(self, pid: str, sid: str, cron_expression: str | None, timezone: str | None) -> Schedule:
        self._check_schedule_fields(cron_expression, timezone)
        with self.lock:
            found = self.schedule(pid, sid)
            found.cron_expression = cron_expression or found.cron_expression
            found.timezone = timezone or found.timezone
            found.updated_at = self.clock()
            found.plan_from(found.updated_at)
            return found

    def any_schedule(self, sid: str) -> Schedule:
        found = self.schedules.get(sid)
        if found is None:
            raise not_found(f"Schedule {sid} not found")
        return found

    def set_schedule_status(self, sid: str, status: str) -> Schedule:
        """Pause or resume (the admin API: the public one cannot); a resumed schedule skips the ticks it missed."""
        with self.lock:
            found = self.any_schedule(sid)
            if status != found.status:
                found.status, found.updated_at = status, self.clock()
                found.plan_from(found.updated_at)
            return found

    def fire_schedule(self, sid: str, at: float | None = None) -> Run:
        """One run of the schedule, as its CronJob would start it: its locked version, input and image, by
        ``schedule``, created at ``at`` (the tick) or now. The input is the one the schedule was created with."""
        with self.lock:
            found = self.any_schedule(sid)
            return self.create_run(
                found.pipeline_id,
                found.version,
                found.input_id,
                found.image_id,
                image_version=found.image_version,
                triggered_by=RunTrigger.SCHEDULE,
                created_at=at,
            )

    def fire_due_schedules(self) -> None:
        """Fire every ACTIVE schedule whose next tick the clock has reached: lazily, on the next request.

        Ticks missed in one step of the clock (an ``advance`` past several) start one run, at the latest of
        them, as a Kubernetes CronJob does; the run is created at that tick, so what a client sees does not
        depend on when it asks. A schedule whose input or version has gone since skips the tick.
        """
        now = self.clock()
        pending = list(self.schedules.values())  # one copy in C, safe against a concurrent change
        if not any(s.status == ScheduleStatus.ACTIVE and s.next_fire_at <= now for s in pending):
            return  # the common case, on every request: no lock taken
        with self.lock:
            for schedule in list(self.schedules.values()):
                if schedule.status != ScheduleStatus.ACTIVE or schedule.next_fire_at > now:
                    continue
                tick = last_fire_at_or_before(schedule.cron_expression, schedule.timezone, now)
                schedule.plan_from(tick)
                try:
                    self.fire_schedule(schedule.id, at=tick)
                except ApiError as err:
                    log.warning("Schedule %s did not fire at %s: %s", schedule.id, tick, err.detail)

    def delete_schedule(self, pid: str, sid: str) -> None:
        with self.lock:
            self.schedule(pid, sid)
            del self.schedules[sid]

    # -- images ----------------------------------------------------------------------------------

    def image(self, iid: str) -> Image:
        found = self.images.get(iid)
        if found is None or not found.active_versions:
            raise not_found(f"Image {iid} not found")
        return found

    def _add_image_version(self, image: Image, definition: JSONObject) -> None:
        now = self.clock()
        number = len(image.versions) + 1
        error = build_error(definition["packages"])
        image.versions.append(ImageVersion(number, definition, now, now + self.config.image_seconds, build_error=error))
        image.updated_at = now

    def create_image(self, name: str, description: str | None, definition: JSONObject) -> Image:
        with self.lock:
            if any(i.name == name and i.active_versions for i in self.images.values()):
                raise conflict(f"An image named {name!r} already exists")
            now = self.clock()
            image = Image(new_id(), name, description, created_at=now)
            self._add_image_version(image, definition)
            self.images[image.id] = image
            return image

    def replace_image(self, iid: str, definition: JSONObject) -> Image:
        """A PATCH is a full replacement: a new immutable version, the stored name kept."""
        with self.lock:
            image = self.image(iid)
            self._add_image_version(image, {**definition, "name": image.name})
            return image

    def list_images(self) -> list[Image]:
        with self.lock:
            found = [i for i in self.images.values() if i.active_versions]
        return newest_first(found, lambda i: i.created_at)

    def image_version(self, iid: str, number: int) -> ImageVersion:
        found = next((v for v in self.image(iid).active_versions if v.number == number), None)
        if found is None:
            raise not_found(f"Version {number} of image {iid} not found")
        return found

    def delete_image(self, iid: str, number: int | None) -> None:
        """Soft-delete version ``number`` (default: the newest); the image goes with its last version."""
        with self.lock:
            image = self.image(iid)
            target = image.active_versions[0] if number is None else self.image_version(iid, number)
            target.deleted = True
            image.updated_at = self.clock()
