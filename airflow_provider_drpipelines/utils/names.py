"""Pipelines by name: ids differ between a dev and a prod DataRobot, names need not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_drpipelines.client.answers import required
from airflow_provider_drpipelines.exceptions import DataRobotConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

#: One page holds every match of any sensible name: a lookup costs one call.
NAME_PAGE_SIZE = 200


def check_pipeline_reference(pipeline_id: Any, pipeline_name: Any, owner: str) -> None:
    """Exactly one of ``pipeline_id`` and ``pipeline_name``, checked when the DAG is parsed."""
    if (pipeline_id is None) == (pipeline_name is None):
        raise DataRobotConfigError(f"Pass exactly one of pipeline_id and pipeline_name to {owner}.")
    if pipeline_name is not None and (not isinstance(pipeline_name, str) or not pipeline_name.strip()):
        raise DataRobotConfigError(f"pipeline_name must be a non-empty string, got {pipeline_name!r}.")


def resolve_pipeline_id(hook: DataRobotPipelinesHook, name: str) -> str:
    """The id of the active pipeline named exactly ``name`` (one call); zero or several is an error."""
    exact, similar = _lookup(hook, name)
    if exact is None:
        raise DataRobotConfigError(f"No active pipeline is named exactly {name!r}.{_near(similar)}")
    pipeline_id: str = exact["id"]  # checked by _lookup
    hook.log.info("Pipeline %r is %s.", name, pipeline_id)
    return pipeline_id


def _lookup(hook: DataRobotPipelinesHook, name: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The exact active match (several is an error) and every pipeline whose name contains ``name``."""
    similar = _listed(hook, name)
    exact = _exact(similar, name)
    if len(exact) > 1:
        raise DataRobotConfigError(
            f"{len(exact)} active pipelines are named {name!r}; pass pipeline_id instead, or retire all but one:\n"
            + _describe(exact)
        )
    return (exact[0] if exact else None), similar


def pipelines_named(hook: DataRobotPipelinesHook, name: str) -> list[dict[str, Any]]:
    """Every active pipeline named exactly ``name``: a deploy converges several into one instead of failing."""
    return _exact(_listed(hook, name), name)


def _listed(hook: DataRobotPipelinesHook, name: str) -> list[dict[str, Any]]:
    """Every pipeline whose name contains ``name``, each once however many pages show it: offset paging over a
    listing that grows between two pages shows the last item of one page again at the start of the next."""
    listing = f"list_pipelines(search={name!r})"
    by_id: dict[str, dict[str, Any]] = {}
    for pipeline in hook.iterate(hook.list_pipelines, search=name, page_size=NAME_PAGE_SIZE):
        by_id.setdefault(required(listing, pipeline, "id", str), pipeline)
    return list(by_id.values())


def _exact(pipelines: Iterable[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [p for p in pipelines if p.get("name") == name and p.get("isActive", True)]


def _near(similar: list[dict[str, Any]]) -> str:
    return f" Pipelines whose name contains it:\n{_describe(similar)}" if similar else ""


def _describe(pipelines: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"  - {p.get('name')!r}: id {p.get('id')}, mode {p.get('mode')}, updated {p.get('updatedAt')}"
        for p in pipelines
    )
