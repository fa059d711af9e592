"""The operators' common base: the connection, the hook's retry settings, OpenLineage, scope diagnosis."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_drpipelines.connection import DEFAULT_CONN_ID
from airflow_provider_drpipelines.exceptions import (
    ApiConflictError,
    ApiNotFoundError,
)
from airflow_provider_drpipelines.utils.pipeline_task import PipelineTaskMixin

if TYPE_CHECKING:
    pass

T = TypeVar("T")


class PipelinesBaseOperator(PipelineTaskMixin, BaseOperator):
    """The operators' common arguments: the connection and the hook's retry settings."""

    def __init__(
        self,
        *,
        datarobot_pipelines_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_connection(datarobot_pipelines_conn_id, hook_params)

    # --- OpenLineage (the ``openlineage`` extra; see _lineage) -------------------------------------
    def get_openlineage_facets_on_start(self) -> Any:
        """The job's lineage (pipeline, version, source); never fails the task."""
        from airflow_provider_drpipelines.utils.lineage import facets

        return facets(self)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The job's lineage and, for a run, its id, status, URL and image; never fails the task."""
        from airflow_provider_drpipelines.utils.lineage import facets

        return facets(self)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """As on complete; the OpenLineage provider adds the task's error."""
        from airflow_provider_drpipelines.utils.lineage import facets

        return facets(self)

    def _call_or_diagnose_scope(self, version: int | str, call: Callable[[], T]) -> T:
        """Run a call in a version's scope; turn a bare 404/409 into what is wrong with pipeline or version."""
        try:
            return call()
        except (ApiNotFoundError, ApiConflictError):
            self.hook.resolve_version(self.pipeline_id, version)
            raise
