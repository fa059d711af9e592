"""Every endpoint of the pipelines API (the ``/pipelines`` resources under ``/api/v2``), written once.

:class:`PipelinesApi` builds each call and hands it to ``_send``; the sync hook answers with the decoded
body, the async client with an awaitable of it. Scope is said one way everywhere: ``version=None`` is
the draft, ``version=<n>`` the locked version n.
"""

from __future__ import annotations

from typing import TypeVar

from airflow_provider_drpipelines.client.image_endpoints import ImageEndpoints
from airflow_provider_drpipelines.client.pipeline_endpoints import PipelineEndpoints
from airflow_provider_drpipelines.client.run_endpoints import RunEndpoints

R = TypeVar("R")


class PipelinesApi(PipelineEndpoints[R], RunEndpoints[R], ImageEndpoints[R]):
    """The endpoint catalogue, written once for both clients; subclasses implement ``_send``.

    :class:`~airflow_provider_drpipelines.hooks.DataRobotPipelinesHook` inherits every method here and returns
    the decoded JSON body (a dict, a list for :meth:`list_task_executions`, None for a 204);
    :class:`~airflow_provider_drpipelines.client.async_client.DataRobotPipelinesAsyncClient` returns an awaitable of
    the same. Scope is said one way everywhere: ``version=None`` is the draft, ``version=<n>`` the locked
    version n. Ids are percent-encoded into the path, and an argument the API would refuse raises
    :class:`~airflow_provider_drpipelines.exceptions.DataRobotConfigError` before any call. An error answer
    raises the matching :class:`~airflow_provider_drpipelines.exceptions.DataRobotApiError` subclass, after
    the client's retries for transient failures; creates are never re-sent blindly.
    """
