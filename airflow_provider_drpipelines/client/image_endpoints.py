"""The pipelines API's schedules, execution images, and the service's own version."""

from __future__ import annotations

from typing import Any, TypeVar

from airflow_provider_drpipelines.client.paths import (
    Endpoints,
    listing,
    path_segment,
    pipeline_path,
    positive_int,
    version_number,
)
from airflow_provider_drpipelines.client.wire import MAX_TEXT_BYTES, ApiRequest
from airflow_provider_drpipelines.exceptions import DataRobotConfigError

R = TypeVar("R")


class ImageEndpoints(Endpoints[R]):
    """Schedules of locked versions, execution images and their versions, and the service version."""

    def create_schedule(
        self,
        pipeline_id: str,
        version: int,
        input_id: str,
        image_id: str,
        image_version: int,
        cron_expression: str,
        timezone: str | None = None,
    ) -> R:
        """Schedule runs of a locked version inside DataRobot (independent of Airflow).

        The schedule snapshots the version, the input and the image when it is created.

        :param pipeline_id: the pipeline's id.
        :param version: the locked version to run (schedules exist for locked versions only).
        :param input_id: the input every scheduled run uses.
        :param image_id: the execution image to run in.
        :param image_version: that image's version number (images are versioned, see :meth:`update_image`).
        :param cron_expression: when to run, e.g. ``"0 6 * * *"``.
        :param timezone: an IANA zone for the cron expression (the server's default: UTC).
        :return: the schedule (``id``, ``status``, ...).
        """
        body: dict[str, Any] = {
            "cron_expression": cron_expression,
            "pipeline_version_id": version_number(version),
            "pipeline_input_id": input_id,
            "image_id": image_id,
            "image_version": positive_int(image_version, "image_version"),
        }
        if timezone is not None:
            body["timezone"] = timezone
        path = f"{pipeline_path(pipeline_id)}/schedules"
        return self._send(ApiRequest("POST", path, json=body, creates=True, required=("id",)))

    def list_schedules(self, pipeline_id: str, *, offset: int | None = None, limit: int | None = None) -> R:
        """A pipeline's schedules, one page at a time.

        :param pipeline_id: the pipeline's id.
        :param offset: index of the first item to return (default: the server's, 0).
        :param limit: items per page, 1-200 (default: the server's);
            :meth:`~airflow_provider_drpipelines.hooks.listings.PipelinesListings.iterate` walks every page.
        :return: one page: ``{data, count, next, previous, totalCount}``.
        """
        return self._send(listing(f"{pipeline_path(pipeline_id)}/schedules", offset, limit))

    def get_schedule(self, pipeline_id: str, schedule_id: str) -> R:
        """One schedule.

        :param pipeline_id: the pipeline's id.
        :param schedule_id: the schedule's id.
        :return: the schedule (``id``, ``status``, ``cron_expression``, ...).
        """
        path = f"{pipeline_path(pipeline_id)}/schedules/{path_segment(schedule_id, 'schedule_id')}"
        return self._send(ApiRequest("GET", path, required=("id",)))

    def update_schedule(
        self,
        pipeline_id: str,
        schedule_id: str,
        *,
        cron_expression: str | None = None,
        timezone: str | None = None,
    ) -> R:
        """Change a schedule's timing.

        :param pipeline_id: the pipeline's id.
        :param schedule_id: the schedule's id.
        :param cron_expression: the new cron expression.
        :param timezone: the new IANA time zone.
        :return: the updated schedule.
        :raises DataRobotConfigError: with neither field, before any call.
        """
        body = {k: v for k, v in (("cron_expression", cron_expression), ("timezone", timezone)) if v is not None}
        if not body:
            raise DataRobotConfigError("update_schedule needs cron_expression or timezone.")
        path = f"{pipeline_path(pipeline_id)}/schedules/{path_segment(schedule_id, 'schedule_id')}"
        return self._send(ApiRequest("PATCH", path, json=body, required=("id",)))

    def delete_schedule(self, pipeline_id: str, schedule_id: str) -> R:
        """Delete a schedule, and the job on the service that fires it.

        :param pipeline_id: the pipeline's id.
        :param schedule_id: the schedule's id.
        :return: None (the API answers 204).
        """
        path = f"{pipeline_path(pipeline_id)}/schedules/{path_segment(schedule_id, 'schedule_id')}"
        return self._send(ApiRequest("DELETE", path, answer="none"))

    # --- execution images --------------------------------------------------------------------
    def create_image(
        self,
        name: str,
        *,
        packages: list[str] | None = None,
        conda: list[str] | dict[str, list[str]] | None = None,
        python_version: str | None = None,
        gpu: bool | None = None,
        description: str | None = None,
    ) -> R:
        """Build an execution image (a Python environment the pipeline's tasks run in).

        It is ``CREATING`` first and becomes usable when ``READY``.

        :param name: the image's name, unique per user.
        :param packages: pip requirements, e.g. ``["pandas==2.2"]``.
        :param conda: conda dependencies: a list, or ``{"channels": [...], "dependencies": [...]}``.
        :param python_version: ``"3.10"`` to ``"3.13"``; the server's default when omitted.
        :param gpu: request a GPU image (422 when the service has no GPU capacity).
        :param description: free text.
        :return: the image (``id``, ``status``, ...).
        :raises DataRobotConfigError: with neither ``packages`` nor ``conda``, before any call.
        """
        body = _image_body(name, packages, conda, python_version, gpu)
        if description is not None:
            body["description"] = description
        return self._send(ApiRequest("POST", "/pipelines/images", json=body, creates=True, required=("id",)))

    def list_images(self, *, offset: int | None = None, limit: int | None = None) -> R:
        """The caller's active execution images, newest first, one page at a time.

        :param offset: index of the first item to return (default: the server's, 0).
        :param limit: items per page, 1-200 (default: the server's);
            :meth:`~airflow_provider_drpipelines.hooks.listings.PipelinesListings.iterate` walks every page.
        :return: one page: ``{data, count, next, previous, totalCount}``.
        """
        return self._send(listing("/pipelines/images", offset, limit))

    def get_image(self, image_id: str) -> R:
        """One execution image with its status (CREATING, READY or ERROR).

        :param image_id: the execution image's id.
        :return: the image (``id``, ``status``, ...).
        """
        path = f"/pipelines/images/{path_segment(image_id, 'image_id')}"
        return self._send(ApiRequest("GET", path, required=("id",)))

    def update_image(
        self,
        image_id: str,
        name: str,
        *,
        packages: list[str] | None = None,
        conda: list[str] | dict[str, list[str]] | None = None,
        python_version: str | None = None,
        gpu: bool | None = None,
    ) -> R:
        """A full replacement that becomes the image's next immutable version.

        Fields left out are not kept from the previous version: pass the whole environment again.

        :param image_id: the execution image's id.
        :param name: required by the API, which keeps the image's stored name regardless.
        :param packages: pip requirements, e.g. ``["pandas==2.2"]``.
        :param conda: conda dependencies: a list, or ``{"channels": [...], "dependencies": [...]}``.
        :param python_version: ``"3.10"`` to ``"3.13"``; the server's default when omitted.
        :param gpu: request a GPU image (422 when the service has no GPU capacity).
        :return: the image with its new version.
        :raises DataRobotConfigError: with neither ``packages`` nor ``conda``, before any call.
        """
        path = f"/pipelines/images/{path_segment(image_id, 'image_id')}"
        body = _image_body(name, packages, conda, python_version, gpu)
        return self._send(ApiRequest("PATCH", path, json=body, required=("id",)))

    def delete_image(self, image_id: str) -> R:
        """Soft-delete the image's latest active version, and the image itself once no active version remains.

        :param image_id: the execution image's id.
        :return: None (the API answers 204).
        """
        return self._send(
            ApiRequest("DELETE", f"/pipelines/images/{path_segment(image_id, 'image_id')}", answer="none")
        )

    def delete_image_version(self, image_id: str, version: int) -> R:
        """Soft-delete one version of an execution image.

        :param image_id: the execution image's id.
        :param version: the image version number.
        :return: None (the API answers 204).
        """
        path = f"/pipelines/images/{path_segment(image_id, 'image_id')}/versions/{version_number(version)}"
        return self._send(ApiRequest("DELETE", path, answer="none"))

    def get_image_version_logs(self, image_id: str, version: int) -> R:
        """The build log of one image version, once it is READY or ERROR: why a build failed.

        :param image_id: the execution image's id.
        :param version: the image version number.
        :return: ``{logs, ...}``; up to 64 MiB.
        """
        path = f"/pipelines/images/{path_segment(image_id, 'image_id')}/versions/{version_number(version)}/logs"
        return self._send(ApiRequest("GET", path, required=("logs",), max_bytes=MAX_TEXT_BYTES))

    # --- service -----------------------------------------------------------------------------
    def get_api_version(self) -> R:
        """The pipelines service's version.

        :return: ``{versionString, ...}``.
        """
        return self._send(ApiRequest("GET", "/version/", required=("versionString",)))


def _image_body(
    name: str,
    packages: list[str] | None,
    conda: list[str] | dict[str, list[str]] | None,
    python_version: str | None,
    gpu: bool | None,
) -> dict[str, Any]:
    if not packages and not conda:
        raise DataRobotConfigError(f"Image {name!r} needs pip packages or conda dependencies.")
    body: dict[str, Any] = {"name": name}
    for key, value in (("pip", packages), ("conda", conda), ("pythonVersion", python_version), ("gpu", gpu)):
        if value is not None:
            body[key] = value
    return body
