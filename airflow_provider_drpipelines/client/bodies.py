"""The few API answers the code reads by key: a run's status, a pipeline with its versions, an image with its
versions.

The clients check that an answer carries the keys its endpoint requires (``ApiRequest.required``) and
``client.answers`` checks the versions listed; these types name what the readers then index, so a misspelt
key is a type error. Other keys the API sends are not listed here because no code reads them.
"""

from __future__ import annotations

from typing import Any, TypedDict


class RunStatusBody(TypedDict):
    """The answer of ``get_run_status``: the run's status alone, the one call a wait polls."""

    status: str


class _Versioned(TypedDict):
    version: int


class PipelineVersionEntry(_Versioned, total=False):
    """One of a pipeline's ``versions``: its build status (PENDING, READY, FAILED) and why it failed."""

    status: str
    errorDetail: str | None


class ImageVersionEntry(_Versioned, total=False):
    """One of an image's ``versions``: its build status (CREATING, READY, ERROR) and the spec it was built from."""

    status: str
    errorDetail: str | None
    definition: dict[str, Any]


class _PipelineKeys(TypedDict):
    id: str
    mode: str


class PipelineBody(_PipelineKeys, total=False):
    """The answer of ``get_pipeline``: ``mode`` is draft or locked; a locked pipeline lists its versions."""

    name: str
    versions: list[PipelineVersionEntry]
    taskNames: list[str]
    #: The pipeline's default execution image.
    imageId: str | None
    #: A JSON object text: the run arguments and their defaults (null where there is none).
    inputSetTemplate: str | None


class _ImageKeys(TypedDict):
    id: str


class ImageBody(_ImageKeys, total=False):
    """The answer of ``get_image``: its versions, the newest the one a run uses."""

    name: str
    latestVersion: int
    versions: list[ImageVersionEntry]
