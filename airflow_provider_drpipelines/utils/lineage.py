"""OpenLineage facets and asset-event extras for the pipeline operators.

Imported only from inside operator methods, so DAG parsing never imports OpenLineage. The OpenLineage
provider (the ``openlineage`` extra) calls the operators' ``get_openlineage_facets_on_*`` methods; without it
nothing here runs. A failure to build facets is logged and never fails the task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from airflow_provider_drpipelines.exceptions import DataRobotConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.providers.openlineage.extractors import OperatorLineage


#: The payload key ``inject_openlineage_parent_info=True`` adds: the Airflow task's OpenLineage run identifiers.
PARENT_INFO_KEY = "openlineage_parent"
_PRODUCER_FACET_SCHEMA = "https://github.com/airflow-provider-drpipelines/airflow-provider-drpipelines#lineage"


def namespace(base_url: str) -> str:
    """``datarobot://<host>`` of the DataRobot endpoint: one namespace per DataRobot installation."""
    host = urlsplit(base_url).netloc or base_url
    return f"datarobot://{host}"


def with_parent_info(payload: dict[str, Any], context: Context) -> dict[str, Any]:
    """The payload plus the task's OpenLineage parent and root run, from the OpenLineage provider's macros."""
    try:
        from airflow.providers.openlineage.plugins import macros as ol_macros
    except ImportError as err:
        raise DataRobotConfigError(
            "inject_openlineage_parent_info=True needs the OpenLineage provider: "
            "pip install 'airflow-provider-drpipelines[openlineage]'."
        ) from err

    macros: Any = ol_macros  # untyped functions taking the task instance
    ti = context["ti"]
    return {
        **payload,
        PARENT_INFO_KEY: {
            "parentJobNamespace": macros.lineage_job_namespace(),
            "parentJobName": macros.lineage_job_name(ti),
            "parentRunId": macros.lineage_run_id(ti),
            "rootParentJobNamespace": macros.lineage_root_job_namespace(ti),
            "rootParentJobName": macros.lineage_root_job_name(ti),
            "rootParentRunId": macros.lineage_root_run_id(ti),
        },
    }


def note_run_end(
    operator: Any, context: Context, pipeline_id: str, run_id: str, version: int | None, status: str
) -> None:
    """Keep the ended run on the operator for its OpenLineage facets; on success, put it into the ``extra``
    of every outlet's asset event (what a DAG scheduled on the asset reads).

    Computed here, in the task, because the OpenLineage listener builds facets in a forked process that
    must not call the API or Airflow's task comms.
    """
    from airflow_provider_drpipelines.statuses import SUCCESS_RUN_STATUSES

    hook = operator.hook
    url = hook.run_url(pipeline_id, run_id)
    operator._lineage_run = {
        "namespace": namespace(hook.settings.api_url),
        "pipeline_id": pipeline_id,
        "version": version,
        "run": {"run_id": run_id, "status": status, "url": url, "image_id": operator.image_id},
    }
    if status not in SUCCESS_RUN_STATUSES or not operator.outlets:
        return
    extra = {"pipeline_id": pipeline_id, "version": version, "run_id": run_id, "run_url": url}
    # Airflow 3.x: context["outlet_events"][Asset]; Airflow 2.10/2.11: the same accessor keyed by Dataset.
    events = context["outlet_events"]
    for outlet in operator.outlets:
        events[outlet].extra.update(extra)


def _facet_classes() -> tuple[type, type]:
    """A job facet and a run facet for DataRobot pipelines: attrs subclasses of the OpenLineage base facets."""
    from airflow.providers.common.compat.openlineage.facet import RunFacet
    from openlineage.client.generated.base import JobFacet  # not re-exported by common.compat

    @attrs.define
    class DataRobotPipelineJobFacet(JobFacet):  # type: ignore[misc]
        pipeline_id: str | None = None
        pipeline_name: str | None = None
        version: int | str | None = None
        source: str | None = None

        @staticmethod
        def _get_schema() -> str:
            return _PRODUCER_FACET_SCHEMA

    @attrs.define
    class DataRobotPipelineRunFacet(RunFacet):  # type: ignore[misc]
        run_id: str | None = None
        status: str | None = None
        url: str | None = None
        image_id: str | None = None

        @staticmethod
        def _get_schema() -> str:
            return _PRODUCER_FACET_SCHEMA

    return DataRobotPipelineJobFacet, DataRobotPipelineRunFacet


def _safely(build: Callable[[], OperatorLineage[Any, Any]], operator: Any) -> OperatorLineage[Any, Any]:
    """Build the facets; on any error log it and return empty lineage (lineage never fails a task)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    try:
        return build()
    except Exception:
        operator.log.warning("Could not build OpenLineage facets for %s.", operator.task_id, exc_info=True)
        return OperatorLineage()


def _lineage(operator: Any) -> OperatorLineage[Any, Any]:
    """Job facets from the operator's arguments; run facets from the run it ended with, if any."""
    from airflow.providers.common.compat.openlineage.facet import ExternalQueryRunFacet
    from airflow.providers.openlineage.extractors import OperatorLineage

    job_facet, run_facet = _facet_classes()
    ended: dict[str, Any] = getattr(operator, "_lineage_run", None) or {}
    source = getattr(operator, "source", None)
    job = job_facet(
        pipeline_id=ended.get("pipeline_id", getattr(operator, "pipeline_id", None)),
        pipeline_name=getattr(operator, "pipeline_name", None),
        version=ended.get("version", getattr(operator, "version", None)),
        source=None if source is None else str(source),
    )
    run_facets: dict[str, Any] = {}
    if ended:
        run = ended["run"]
        run_facets["datarobotPipelineRun"] = run_facet(**run)
        run_facets["externalQuery"] = ExternalQueryRunFacet(externalQueryId=run["run_id"], source=ended["namespace"])
    return OperatorLineage(job_facets={"datarobotPipeline": job}, run_facets=run_facets)


def facets(operator: Any) -> OperatorLineage[Any, Any]:
    """START, COMPLETE and FAIL alike: no API call and no task comms (the listener runs this in a fork).

    On FAIL the OpenLineage listener adds the ``errorMessage`` facet from the task's exception, which for a
    failed run names its failing tasks and their errors.
    """
    return _safely(lambda: _lineage(operator), operator)
