"""Deploying a pipeline from its source file and providing an execution image, idempotently.

The operators call these from the worker; the waits until READY live in ``_readiness``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_drpipelines._answers import newest_version, numbered_versions, required
from airflow_provider_drpipelines._names import find_pipeline
from airflow_provider_drpipelines._readiness import IMAGE_VERSION, PIPELINE_VERSION, Target
from airflow_provider_drpipelines._source import default_pipeline_name, pipeline_functions
from airflow_provider_drpipelines.exceptions import ApiNotFoundError, DataRobotConfigError
from airflow_provider_drpipelines.statuses import IMAGE_PYTHON_VERSIONS, ImageStatus, PipelineMode

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow_provider_drpipelines._wire import UploadFile
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
        from airflow_provider_drpipelines._wire import UploadFile

        return UploadFile(filename=self.path.name, content=self.text.encode("utf-8"))


@dataclass(frozen=True)
class Deployment:
    """What a deploy produced: the version to wait for and, after a locked pipeline's change, the one it replaces."""

    pipeline_id: str
    version: int
    changed: bool
    #: READY, PENDING or FAILED when known without another call, else None.
    status: str | None = None
    #: The locked pipeline a changed source replaces; retired once the new version is READY.
    supersedes: str | None = None

    @property
    def target(self) -> Target:
        return Target(PIPELINE_VERSION, self.pipeline_id, self.version)


def deploy(
    hook: DataRobotPipelinesHook,
    source: PipelineSource,
    name: str | None,
    description: str | None,
    image_id: str | None,
    lock: bool,
) -> Deployment:
    """Create, update or leave alone the pipeline named ``name`` so its newest version has ``source``.

    Unchanged source: nothing is created (a draft is locked if ``lock``). Changed source on a draft: a new
    version. Changed source on a locked pipeline (immutable): a clone with the new source, locked; the old
    pipeline is retired once the new version is READY (see :func:`retire`).
    """
    name = name or source.default_name()
    found = find_pipeline(hook, name)
    if found is None:
        created = hook.create_pipeline(source.upload(), name=name, description=description, image_id=image_id)
        hook.log.info("Created pipeline %r (%s).", name, created["id"])
        return _settle(hook, created["id"], lock, changed=True)
    pipeline = hook.get_pipeline(found["id"])
    pipeline_id: str = pipeline["id"]
    newest = _newest_version(pipeline)
    locked = pipeline["mode"] == PipelineMode.LOCKED
    current = hook.get_pipeline_source(pipeline_id, newest if locked else None)["source"]
    if current == source.text:
        hook.log.info("Pipeline %r (%s) version %s already has this source.", name, pipeline_id, newest)
        if not locked and lock:
            return _settle(hook, pipeline_id, lock, changed=False)
        return Deployment(pipeline_id, newest, False, _version_status(pipeline, newest))
    if not locked:
        hook.update_pipeline(pipeline_id, source.upload(), description=description, image_id=image_id)
        hook.log.info("Uploaded a new version of draft pipeline %r (%s).", name, pipeline_id)
        return _settle(hook, pipeline_id, lock, changed=True)
    clone_id: str = hook.clone_pipeline(pipeline_id, name=name)["id"]
    hook.update_pipeline(clone_id, source.upload(), description=description, image_id=image_id)
    hook.log.info("Pipeline %r (%s) is locked: its new source went to the clone %s.", name, pipeline_id, clone_id)
    settled = _settle(hook, clone_id, lock=True, changed=True)
    return Deployment(settled.pipeline_id, settled.version, True, settled.status, supersedes=pipeline_id)


def _settle(hook: DataRobotPipelinesHook, pipeline_id: str, lock: bool, changed: bool) -> Deployment:
    """Lock (if asked) and name the version to wait for."""
    if lock:
        version = hook.lock_pipeline(pipeline_id)["version"]
        hook.log.info("Locked pipeline %s at version %s.", pipeline_id, version)
        return Deployment(pipeline_id, version, changed)
    pipeline = hook.get_pipeline(pipeline_id)
    return Deployment(pipeline_id, _newest_version(pipeline), changed, None)


def _newest_version(pipeline: dict[str, Any]) -> int:
    numbers = numbered_versions(f"get_pipeline({pipeline.get('id')})", pipeline)
    if not numbers:
        raise DataRobotConfigError(f"Pipeline {pipeline.get('id')!r} lists no versions.")
    newest: int = max(numbers)
    return newest


def _version_status(pipeline: dict[str, Any], number: int) -> str | None:
    entry = numbered_versions(f"get_pipeline({pipeline.get('id')})", pipeline).get(number, {})
    status = entry.get("status")
    return status if isinstance(status, str) else None


def retire(hook: DataRobotPipelinesHook, deployment: Deployment, ready: bool) -> None:
    """After a locked pipeline's change: keep one active pipeline under the name.

    READY retires the superseded pipeline (DataRobot's delete is a soft delete: its versions and runs stay
    in the history); a FAILED clone is deleted instead, so the name keeps naming the working pipeline.
    """
    if deployment.supersedes is None:
        return
    gone = deployment.supersedes if ready else deployment.pipeline_id
    try:
        hook.delete_pipeline(gone)
    except ApiNotFoundError:
        return
    hook.log.info("Retired pipeline %s.", gone)


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

    Only the newest version counts: a run uses its image's newest version.
    """
    summary = next((i for i in _images(hook) if i.get("name") == spec.name), None)
    packages, gpu = list(spec.packages), spec.gpu or None  # gpu is left out when false, as the CLI does
    if summary is None:
        created = hook.create_image(
            spec.name, packages=packages, python_version=spec.python_version, gpu=gpu, description=description
        )
        hook.log.info("Created image %r (%s).", spec.name, created["id"])
        return Target(IMAGE_VERSION, created["id"], required("create_image()", created, "latestVersion", int))
    image = hook.get_image(required("list_images()", summary, "id", str))
    newest = newest_version(f"get_image({image['id']})", image)
    if newest is not None and spec.matches(newest.get("definition") or {}) and newest["status"] != ImageStatus.ERROR:
        hook.log.info("Image %r (%s) version %s already has this spec.", spec.name, image["id"], newest["version"])
        return Target(IMAGE_VERSION, image["id"], newest["version"])
    updated = hook.update_image(image["id"], spec.name, packages=packages, python_version=spec.python_version, gpu=gpu)
    hook.log.info("Image %r (%s): building version %s.", spec.name, image["id"], updated["latestVersion"])
    return Target(IMAGE_VERSION, image["id"], required(f"update_image({image['id']})", updated, "latestVersion", int))


def _images(hook: DataRobotPipelinesHook) -> Iterable[dict[str, Any]]:
    return hook.iterate(hook.list_images)
