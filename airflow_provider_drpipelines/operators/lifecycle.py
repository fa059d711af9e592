"""Operators that deploy a pipeline from its source file and provide an execution image, waiting until the
service has built them (in the worker, or deferred to ``DataRobotReadinessTrigger``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_drpipelines.exceptions import (
    DataRobotConfigError,
    DataRobotPipelinesError,
    PipelineNotReadyError,
)
from airflow_provider_drpipelines.operators.base import PipelinesBaseOperator
from airflow_provider_drpipelines.utils.pipeline_task import default_deferrable, positive_seconds
from airflow_provider_drpipelines.utils.templating import is_template, native_value
from airflow_provider_drpipelines.xcom_keys import (
    DEPLOYED_CHANGED_XCOM_KEY,
    DEPLOYED_PIPELINE_ID_XCOM_KEY,
    DEPLOYED_VERSION_XCOM_KEY,
    IMAGE_VERSION_XCOM_KEY,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_drpipelines.utils.builds import Target


class _WaitsUntilReady(PipelinesBaseOperator):
    """Waiting for a pipeline version or image version to be built: in the worker, or deferred."""

    def __init__(
        self,
        *,
        timeout: float | timedelta | None = None,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if poll_interval <= 0 or max_poll_interval <= 0:
            raise DataRobotConfigError("poll_interval and max_poll_interval must be positive.")
        self.timeout = positive_seconds(timeout, "timeout")
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval

    def _wait(self, context: Context, target: Target, resume: dict[str, Any], deadline: float | None = None) -> Any:
        """Wait for ``target``; whatever ends the wait goes to :meth:`_built` (here or after a deferral).

        :param deadline: the wall-clock deadline of a wait resumed after a deferral; else ``timeout`` from now.
        """
        from airflow_provider_drpipelines.utils.builds import wait_in_worker

        if deadline is None:
            deadline = None if self.timeout is None else time.time() + self.timeout
        if self.deferrable:
            from airflow_provider_drpipelines.readiness import DataRobotReadinessTrigger
            from airflow_provider_drpipelines.triggers.base import deferral_timeout

            trigger = DataRobotReadinessTrigger(
                kind=target.kind,
                resource_id=target.resource_id,
                version=target.version,
                conn_id=self.datarobot_pipelines_conn_id,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                end_time=deadline,
                resume=resume,
            )
            backstop = deferral_timeout(deadline)
            self.defer(trigger=trigger, method_name="execute_complete", timeout=backstop, kwargs={"end_time": deadline})
        status, detail = wait_in_worker(
            self.hook,
            target,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            deadline=deadline,
        )
        return self._built(context, target, status, detail, resume)

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, end_time: float | None = None
    ) -> Any:
        from airflow_provider_drpipelines.triggers import EVENT_ERROR, EVENT_TIMEOUT
        from airflow_provider_drpipelines.utils.builds import Target
        from airflow_provider_drpipelines.utils.pipeline_task import recheck_after_error_event

        if not isinstance(event, dict) or not isinstance(event.get("target"), dict) or "status" not in event:
            raise DataRobotPipelinesError(f"Invalid event from DataRobotReadinessTrigger: {event!r}")
        if event["status"] == EVENT_TIMEOUT:
            raise PipelineNotReadyError(event["message"])
        # What the task needs afterwards travels in the event: a deferral's kwargs do not survive dag.test().
        target, resume = Target(**event["target"]), event.get("resume") or {}
        status, detail = event["status"], event.get("error_detail")
        if status == EVENT_ERROR:  # the trigger lost track of the build: look from the worker, as for a run
            self.log.warning("%s Checking it from the worker.", event["message"])
            status, detail = recheck_after_error_event(
                event["message"], "The build", lambda: target.status(target.request(self.hook))
            )
            if not target.ends_wait(status):
                self.log.info("%s is %s; resuming the wait.", target.describe().capitalize(), status)
                return self._wait(context, target, resume, end_time)
        return self._built(context, target, status, detail, resume)

    def _built(self, context: Context, target: Target, status: str, detail: str | None, resume: dict[str, Any]) -> Any:
        raise NotImplementedError


class DataRobotDeployPipelineOperator(_WaitsUntilReady):
    """Deploy a pipeline from its source file; returns ``{"pipeline_id": ..., "version": ...}``.

    Both are also pushed as the XComs ``pipeline_id`` and ``version``, for a run operator to template from,
    with ``changed``: whether this deploy created or changed anything.
    The pipeline is found by its exact name (``pipeline_name``, else the name the service derives from the
    ``@pipeline`` function). Deploying the same source again creates nothing. A changed source becomes a
    new version of a draft pipeline; a locked pipeline is never changed: it is cloned (same name, image,
    description and latest input), the clone gets the new source and is locked, and once its version is
    READY the old pipeline is deleted (a soft delete in DataRobot: its versions and runs stay visible) so the
    name names exactly one active pipeline. A clone whose version FAILS is deleted instead.

    Every step is chosen from what the server shows and sent exactly once (a lost answer is looked for first;
    "already locked" counts as done), so a retry finishes what a failed try left (a clone to upload to, lock
    or wait for, an old pipeline to retire) and two deploys of one name at once keep the oldest pipeline.

    :param source: path of the ``.py`` file (templated), relative to the DAG folder or ``template_searchpath``.
    :param pipeline_name: the pipeline's name; defaults to the title-cased ``@pipeline`` function name.
    :param description: description set on a created or updated pipeline.
    :param image_id: execution image linked to a created or updated pipeline.
    :param lock: lock the pipeline so its version can run (a draft is never locked otherwise).
    :param wait_for_ready: wait until the version is READY (a FAILED version fails the task with its errorDetail).
        Without the wait, a replaced locked pipeline is deleted at once.
    :param timeout: how long to wait for READY.
    :param deferrable: wait in the triggerer instead of the worker.
    """

    template_fields: Sequence[str] = ("source", "pipeline_name", "description", "image_id")

    def __init__(
        self,
        *,
        source: str,
        pipeline_name: str | None = None,
        description: str | None = None,
        image_id: str | None = None,
        lock: bool = True,
        wait_for_ready: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(source, str) or not source.strip():
            raise DataRobotConfigError(f"source must be the path of a .py file, got {source!r}.")
        if not is_template(source) and not source.endswith(".py"):
            raise DataRobotConfigError(f"source must be a .py file, got {source!r}.")
        self.source = source
        self.pipeline_name = pipeline_name
        self.description = description
        self.image_id = image_id
        self.lock = lock
        self.wait_for_ready = wait_for_ready

    def _source_path(self) -> Any:
        """The source file: absolute, or the first match in the DAG folder and ``template_searchpath``."""
        from pathlib import Path

        path = Path(self.source)
        if path.is_absolute():
            return path
        dag = getattr(self, "dag", None)
        searchpath = getattr(dag, "template_searchpath", None) or []
        folders = [getattr(dag, "folder", None), *([searchpath] if isinstance(searchpath, str) else searchpath)]
        candidates = [Path(folder) / path for folder in folders if folder]
        return next((c for c in candidates if c.exists()), candidates[0] if candidates else path)

    def execute(self, context: Context) -> Any:
        from airflow_provider_drpipelines.utils.lifecycle import PipelineSource, deploy, retire

        source = PipelineSource.read(self._source_path())
        deployment = deploy(self.hook, source, self.pipeline_name, self.description, self.image_id, self.lock)
        ti = context["ti"]
        ti.xcom_push(key=DEPLOYED_PIPELINE_ID_XCOM_KEY, value=deployment.pipeline_id)
        ti.xcom_push(key=DEPLOYED_VERSION_XCOM_KEY, value=deployment.version)
        ti.xcom_push(key=DEPLOYED_CHANGED_XCOM_KEY, value=deployment.changed)
        resume = {
            "pipeline_id": deployment.pipeline_id,
            "version": deployment.version,
            "supersedes": list(deployment.supersedes),
        }
        if deployment.status is not None and deployment.target.ends_wait(deployment.status):
            return self._built(context, deployment.target, deployment.status, None, resume)
        if not self.wait_for_ready:
            retire(self.hook, deployment, ready=True)
            return {"pipeline_id": deployment.pipeline_id, "version": deployment.version}
        return self._wait(context, deployment.target, resume)

    def _built(self, context: Context, target: Target, status: str, detail: str | None, resume: dict[str, Any]) -> Any:
        from airflow_provider_drpipelines.utils.builds import raise_unless_ready
        from airflow_provider_drpipelines.utils.lifecycle import Deployment, retire, superseded_ids

        ready = status == target.ready
        if not ready and detail is None:  # read before the retire deletes a failed clone
            detail = self.hook.get_version(target.resource_id, target.version).get("errorDetail")
        supersedes = superseded_ids(resume["supersedes"])
        retire(self.hook, Deployment(resume["pipeline_id"], resume["version"], True, status, supersedes), ready)
        raise_unless_ready(self.hook, target, status, detail)
        return {"pipeline_id": resume["pipeline_id"], "version": resume["version"]}


class DataRobotPipelineImageOperator(_WaitsUntilReady):
    """Provide an execution image with these packages and wait until it is built; returns the image id.

    An image with this name whose newest version has the same spec (packages in any order, python version,
    gpu) is reused; a different spec, or a newest version whose build failed, becomes a new version of it.
    A build that ends ERROR fails the task with the tail of its build log. The version is also pushed as the
    XCom ``image_version``.

    :param name: the image name (unique per user).
    :param packages: pip requirement strings.
    :param python_version: ``"3.10"`` to ``"3.13"``.
    :param description: description of a created image.
    :param gpu: build for GPU nodes.
    :param timeout: how long to wait for the build.
    :param deferrable: wait in the triggerer instead of the worker.
    """

    template_fields: Sequence[str] = ("name", "packages", "python_version", "description")

    def __init__(
        self,
        *,
        name: str,
        packages: list[str],
        python_version: str,
        description: str | None = None,
        gpu: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        from airflow_provider_drpipelines.utils.lifecycle import check_packages, check_python_version

        if not isinstance(name, str) or not name.strip():
            raise DataRobotConfigError(f"name must be a non-empty string, got {name!r}.")
        if not is_template(packages):
            check_packages(packages)
        if not is_template(python_version):
            check_python_version(python_version)
        self.name = name
        self.packages = packages
        self._packages_template = packages
        self.python_version = python_version
        self.description = description
        self.gpu = gpu

    def execute(self, context: Context) -> str:
        from airflow_provider_drpipelines.utils.lifecycle import (
            ImageSpec,
            check_packages,
            check_python_version,
            provide_image,
        )

        packages = check_packages(native_value(self._packages_template, self.packages))
        spec = ImageSpec(self.name, tuple(packages), check_python_version(self.python_version), bool(self.gpu))
        target = provide_image(self.hook, spec, self.description)
        context["ti"].xcom_push(key=IMAGE_VERSION_XCOM_KEY, value=target.version)
        return str(self._wait(context, target, {}))

    def _built(self, context: Context, target: Target, status: str, detail: str | None, resume: dict[str, Any]) -> Any:
        from airflow_provider_drpipelines.utils.builds import raise_unless_ready

        raise_unless_ready(self.hook, target, status, detail)
        return target.resource_id
