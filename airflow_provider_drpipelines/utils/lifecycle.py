"""Deploying a pipeline from its source file and providing an execution image, idempotently.

The operators call these from the worker; the waits until READY live in ``utils.builds``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_drpipelines.client.answers import newest_version, numbered_versions, required
from airflow_provider_drpipelines.exceptions import (
    ApiConflictError,
    ApiNotFoundError,
    DataRobotConfigError,
    DataRobotPipelinesError,
)
from airflow_provider_drpipelines.statuses import IMAGE_PYTHON_VERSIONS, ImageStatus, PipelineMode
from airflow_provider_drpipelines.utils.builds import IMAGE_VERSION, PIPELINE_VERSION, Target
from airflow_provider_drpipelines.utils.names import pipelines_named
from airflow_provider_drpipelines.utils.source import default_pipeline_name, pipeline_functions

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from airflow_provider_drpipelines.client.bodies import ImageBody, PipelineBody
    from airflow_provider_drpipelines.client.wire import UploadFile
    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook


# --- pipelines -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PipelineSource:
    """A pipeline file read and parsed in the worker, before any API call."""

    path: Path
    text: str
    module: ast.Module

    @classmethod
    def read(cls, path: Path) -> PipelineSource:
        if path.suffix != ".py":
            raise DataRobotConfigError(f"source must be a .py file, got {str(path)!r}.")
        if not path.is_file():
            raise DataRobotConfigError(f"source {str(path)!r} does not exist.")
        text = path.read_text(encoding="utf-8")
        try:
            module = ast.parse(text, filename=str(path))
        except SyntaxError as err:
            raise DataRobotConfigError(f"source {str(path)!r} does not parse: line {err.lineno}: {err.msg}") from None
        return cls(path, text, module)

    def default_name(self) -> str:
        """The name the service gives a pipeline from this file; needs exactly one ``@pipeline`` function."""
        functions = pipeline_functions(self.module)
        if len(functions) != 1:
            raise DataRobotConfigError(
                f"source {str(self.path)!r} has {len(functions)} @pipeline functions; it needs exactly one "
                "(or pass pipeline_name)."
            )
        return default_pipeline_name(functions[0].name)

    def upload(self) -> UploadFile:
        from airflow_provider_drpipelines.client.wire import UploadFile

        return UploadFile(filename=self.path.name, content=self.text.encode("utf-8"))


@dataclass(frozen=True)
class Deployment:
    """What a deploy produced: the version to wait for and, after a locked pipeline's change, the ones it replaces."""

    pipeline_id: str
    version: int
    changed: bool
    #: READY, PENDING or FAILED when known without another call, else None.
    status: str | None = None
    #: The locked pipelines a changed source replaces; retired once the new version is READY.
    supersedes: tuple[str, ...] = ()

    @property
    def target(self) -> Target:
        return Target(PIPELINE_VERSION, self.pipeline_id, self.version)


def superseded_ids(value: Any) -> tuple[str, ...]:
    """``supersedes`` as a deferral's resume carries it: a list, or one id or None from before several could be."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


#: Steps one deploy may take (create or clone, upload, lock): more means the name keeps changing under it.
MAX_DEPLOY_STEPS = 8


@dataclass(frozen=True)
class _Named:
    """One active pipeline under the deployed name, as the server shows it now."""

    id: str
    mode: str
    newest: int
    status: str | None
    has_source: bool

    @property
    def draft(self) -> bool:
        return self.mode != PipelineMode.LOCKED

    def describe(self) -> str:
        state = "has this source" if self.has_source else "has another source"
        return f"{self.id} ({self.mode}, version {self.newest} {self.status or 'status unknown'}, {state})"


def deploy(
    hook: DataRobotPipelinesHook,
    source: PipelineSource,
    name: str | None,
    description: str | None,
    image_id: str | None,
    lock: bool,
) -> Deployment:
    """Bring the pipelines named ``name`` to one whose newest version has ``source``, one step at a time.

    Each step is chosen from what the server shows, so a retry (or a concurrent deploy) resumes where a
    crash left off: a pipeline with this source is kept (the oldest, if several: a deterministic winner)
    and locked if asked; else a draft under the name (an unfinished clone) gets the source; else the
    locked pipeline is cloned, or a first pipeline created. Unchanged source creates nothing. Duplicates
    with this source and unfinished drafts are deleted at once; locked pipelines with another source are
    retired once the new version is READY (see :func:`retire`).
    """
    name = name or source.default_name()
    acted = False
    failed_step: tuple[str, str] | None = None
    for _ in range(MAX_DEPLOY_STEPS):
        named = _look(hook, name, source.text)
        if len(named) > 1:
            hook.log.info(
                "%d active pipelines are named %r: %s.", len(named), name, "; ".join(p.describe() for p in named)
            )
        step = _next_step(named, name)
        kind, target = step
        try:
            if kind == "keep":
                return _keep(hook, name, target, named, lock, acted)
            if kind == "upload":
                _upload(hook, name, target, source, description, image_id)
            elif kind == "clone":
                _clone(hook, name, target, named)
            else:
                _create(hook, name, source, description, image_id)
        except (ApiConflictError, ApiNotFoundError) as err:
            if step == failed_step:  # the same step refused twice: not a concurrent change but a real error
                raise
            failed_step = step
            hook.log.warning("Pipelines named %r changed during the deploy (%s); looking again.", name, err.detail)
        acted = True
    raise DataRobotPipelinesError(
        f"Deploying {name!r} did not settle in {MAX_DEPLOY_STEPS} steps: the pipelines under the name keep changing."
    )


def _next_step(named: list[_Named], name: str) -> tuple[str, str]:
    """What brings the name closer to one pipeline with this source, and on which pipeline."""
    if fresh := next((p for p in named if p.has_source), None):
        return "keep", fresh.id  # the oldest with this source: the winner, whoever made it
    if draft := next((p for p in named if p.draft), None):
        return "upload", draft.id  # an unfinished clone (or the draft being deployed)
    if named:
        return "clone", named[-1].id  # the newest locked pipeline: the one in use
    return "create", name


def _look(hook: DataRobotPipelinesHook, name: str, text: str) -> list[_Named]:
    """The active pipelines named ``name``, oldest first (creation time, id as tie-break)."""
    found: list[_Named] = []
    for summary in _oldest_first(pipelines_named(hook, name)):
        try:
            pipeline: PipelineBody = hook.get_pipeline(summary["id"])
            newest = _newest_version(pipeline)
            locked = pipeline["mode"] == PipelineMode.LOCKED
            current = hook.get_pipeline_source(pipeline["id"], newest if locked else None)["source"]
        except ApiNotFoundError:
            continue  # retired meanwhile by a concurrent deploy
        status = _version_status(pipeline, newest)
        found.append(_Named(pipeline["id"], pipeline["mode"], newest, status, current == text))
    return found


def _oldest_first(pipelines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(pipelines, key=lambda p: (_created(p), str(p["id"])))


def _created(pipeline: dict[str, Any]) -> datetime:
    """When the server made it (unknown sorts last): what tells two deploys' pipelines apart the same way."""
    try:
        created = datetime.fromisoformat(str(pipeline.get("createdAt")).replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=timezone.utc)
    return created if created.tzinfo else created.replace(tzinfo=timezone.utc)


def _keep(
    hook: DataRobotPipelinesHook, name: str, winner_id: str, named: list[_Named], lock: bool, acted: bool
) -> Deployment:
    """Keep ``winner_id``: delete duplicates and unfinished drafts now, lock it if asked, name what it replaces."""
    winner = next(p for p in named if p.id == winner_id)
    others = [p for p in named if p.id != winner.id]
    for loser in (p for p in others if p.has_source or p.draft):
        _delete(hook, loser.id, f"a duplicate or unfinished draft of {name!r}; {winner.id} is kept")
    supersedes = tuple(p.id for p in others if not p.has_source and not p.draft)
    version, status = winner.newest, winner.status
    if winner.draft and (lock or supersedes):
        version, status = _lock(hook, winner.id), None
    elif not acted and not others:
        hook.log.info("Pipeline %r (%s) version %s already has this source.", name, winner.id, version)
    if supersedes:
        hook.log.info("Pipeline %r is %s now; it replaces %s once READY.", name, winner.id, ", ".join(supersedes))
    return Deployment(winner.id, version, acted or bool(supersedes), status, supersedes)


def _upload(
    hook: DataRobotPipelinesHook,
    name: str,
    draft_id: str,
    source: PipelineSource,
    description: str | None,
    image_id: str | None,
) -> None:
    """The source as the draft's new version, exactly once: a lost answer is looked for as the draft's source."""

    def has_source() -> dict[str, Any] | None:
        return {"id": draft_id} if hook.get_pipeline_source(draft_id)["source"] == source.text else None

    hook.send_exactly_once(
        lambda api: api.update_pipeline(draft_id, source.upload(), description=description, image_id=image_id),
        has_source,
    )
    hook.log.info("Uploaded the new source to draft pipeline %r (%s).", name, draft_id)


def _clone(hook: DataRobotPipelinesHook, name: str, base: str, named: list[_Named]) -> None:
    """Clone the locked pipeline (it is immutable) under the same name; a lost answer is looked for."""
    made = _made_since(hook, name, {p.id for p in named})
    clone = hook.send_exactly_once(lambda api: api.clone_pipeline(base, name=name), made)
    hook.log.info("Pipeline %r (%s) is locked: cloned it as %s for the new source.", name, base, clone["id"])


def _create(
    hook: DataRobotPipelinesHook, name: str, source: PipelineSource, description: str | None, image_id: str | None
) -> None:
    """The first pipeline under the name; a lost answer is looked for."""
    created = hook.send_exactly_once(
        lambda api: api.create_pipeline(source.upload(), name=name, description=description, image_id=image_id),
        _made_since(hook, name, set()),
    )
    hook.log.info("Created pipeline %r (%s).", name, created["id"])


def _made_since(hook: DataRobotPipelinesHook, name: str, known: set[str]) -> Callable[[], dict[str, Any] | None]:
    """The lookback for a lost create or clone: the newest pipeline under the name that was not there before."""

    def made() -> dict[str, Any] | None:
        return next((p for p in reversed(_oldest_first(pipelines_named(hook, name))) if p["id"] not in known), None)

    return made


def _lock(hook: DataRobotPipelinesHook, pipeline_id: str) -> int:
    """Lock exactly once: a lost answer is looked for, and "already locked" counts as done."""

    def locked() -> dict[str, Any] | None:
        pipeline: PipelineBody = hook.get_pipeline(pipeline_id)
        locked_now = pipeline["mode"] == PipelineMode.LOCKED
        return {"id": pipeline_id, "version": _newest_version(pipeline)} if locked_now else None

    try:
        answer = hook.send_exactly_once(lambda api: api.lock_pipeline(pipeline_id), locked)
    except ApiConflictError as err:
        if (answer := locked()) is None:
            raise
        hook.log.info("Pipeline %s was already locked (%s): counted as done.", pipeline_id, err.detail)
    version: int = answer["version"]
    hook.log.info("Locked pipeline %s at version %s.", pipeline_id, version)
    return version


def _newest_version(pipeline: PipelineBody) -> int:
    numbers = numbered_versions(f"get_pipeline({pipeline.get('id')})", pipeline)
    if not numbers:
        raise DataRobotConfigError(f"Pipeline {pipeline.get('id')!r} lists no versions.")
    newest: int = max(numbers)
    return newest


def _version_status(pipeline: PipelineBody, number: int) -> str | None:
    entry = numbered_versions(f"get_pipeline({pipeline.get('id')})", pipeline).get(number, {})
    status = entry.get("status")
    return status if isinstance(status, str) else None


def retire(hook: DataRobotPipelinesHook, deployment: Deployment, ready: bool) -> None:
    """After a locked pipeline's change: keep one active pipeline under the name.

    READY retires the superseded pipelines (DataRobot's delete is a soft delete: their versions and runs stay
    in the history); a FAILED clone is deleted instead, so the name keeps naming the working pipeline.
    A delete that fails leaves the pipeline for the next deploy, which retires it.
    """
    if not deployment.supersedes:
        return
    if not ready:
        _delete(hook, deployment.pipeline_id, "its new version did not build")
        return
    for gone in deployment.supersedes:
        _delete(hook, gone, f"replaced by {deployment.pipeline_id}")


def _delete(hook: DataRobotPipelinesHook, pipeline_id: str, why: str) -> None:
    try:
        hook.delete_pipeline(pipeline_id)
    except ApiNotFoundError:
        return  # already gone: a re-sent delete, or a concurrent deploy's
    hook.log.info("Retired pipeline %s: %s.", pipeline_id, why)


# --- images --------------------------------------------------------------------------------------
_PYTHON_VERSION = re.compile(r"^3\.\d{1,2}$")


def check_packages(packages: Any) -> list[str]:
    """``packages`` as a list of pip requirement strings, or an error naming the argument."""
    if isinstance(packages, str) or not isinstance(packages, list | tuple):
        raise DataRobotConfigError(f"packages must be a list of pip requirement strings, got {packages!r}.")
    bad = [p for p in packages if not isinstance(p, str) or not p.strip()]
    if bad or not packages:
        raise DataRobotConfigError(f"packages must be non-empty strings (pip requirements), got {packages!r}.")
    return list(packages)


def check_python_version(python_version: Any) -> str:
    if not isinstance(python_version, str) or not _PYTHON_VERSION.match(python_version):
        raise DataRobotConfigError(f"python_version must look like '3.12', got {python_version!r}.")
    if python_version not in IMAGE_PYTHON_VERSIONS:
        raise DataRobotConfigError(
            f"python_version {python_version!r} is not offered; use one of {', '.join(IMAGE_PYTHON_VERSIONS)}."
        )
    return python_version


@dataclass(frozen=True)
class ImageSpec:
    name: str
    packages: tuple[str, ...]
    python_version: str
    gpu: bool

    def matches(self, definition: dict[str, Any]) -> bool:
        """Whether an image version was built from this spec (package order does not matter to pip)."""
        return (
            sorted(definition.get("packages") or []) == sorted(self.packages)
            and not definition.get("conda")
            and definition.get("pythonVersion") == self.python_version
            and bool(definition.get("gpu")) == self.gpu
        )


def provide_image(hook: DataRobotPipelinesHook, spec: ImageSpec, description: str | None) -> Target:
    """The image version to wait for: the newest one if it matches ``spec`` and did not fail, else a new one.

    Only the newest version counts: a run uses its image's newest version. A create or update whose answer
    is lost is looked for (the image exists, its newest version has this spec) before it is sent again.
    """
    packages, gpu = list(spec.packages), spec.gpu or None  # gpu is left out when false, as the CLI does
    image = _image_named(hook, spec.name)
    if image is None:
        try:
            created = hook.send_exactly_once(
                lambda api: api.create_image(
                    spec.name, packages=packages, python_version=spec.python_version, gpu=gpu, description=description
                ),
                lambda: _image_named(hook, spec.name),
            )
        except ApiConflictError:  # a concurrent task created it: reuse or update it as below
            created = _image_named(hook, spec.name)
            if created is None:
                raise
        else:
            hook.log.info("Created image %r (%s).", spec.name, created["id"])
            return Target(IMAGE_VERSION, created["id"], required("create_image()", created, "latestVersion", int))
        image = created
    image_id = required("get_image()", image, "id", str)
    newest = newest_version(f"get_image({image_id})", image)
    if newest is not None and spec.matches(newest.get("definition") or {}) and newest["status"] != ImageStatus.ERROR:
        hook.log.info("Image %r (%s) version %s already has this spec.", spec.name, image_id, newest["version"])
        return Target(IMAGE_VERSION, image_id, newest["version"])
    before = -1 if newest is None else int(newest["version"])

    def built_from_spec() -> dict[str, Any] | None:
        latest = newest_version(f"get_image({image_id})", hook.get_image(image_id))
        if latest is None or int(latest["version"]) <= before or not spec.matches(latest.get("definition") or {}):
            return None
        return {"id": image_id, "latestVersion": latest["version"]}

    updated = hook.send_exactly_once(
        lambda api: api.update_image(
            image_id, spec.name, packages=packages, python_version=spec.python_version, gpu=gpu
        ),
        built_from_spec,
    )
    hook.log.info("Image %r (%s): building version %s.", spec.name, image_id, updated["latestVersion"])
    return Target(IMAGE_VERSION, image_id, required(f"update_image({image_id})", updated, "latestVersion", int))


def _image_named(hook: DataRobotPipelinesHook, name: str) -> ImageBody | None:
    summary = next((i for i in _images(hook) if i.get("name") == name), None)
    return None if summary is None else hook.get_image(required("list_images()", summary, "id", str))


def _images(hook: DataRobotPipelinesHook) -> Iterable[dict[str, Any]]:
    return hook.iterate(hook.list_images)
