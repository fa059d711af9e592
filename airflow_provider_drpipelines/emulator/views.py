"""Rendering of store objects as the API's wire schemas: camelCase keys, every resource's key ``id``.

Absent values are ``None`` (JSON null), never ``""``: DataRobot's Python SDK rejects empty strings.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_drpipelines.emulator.runs import Execution, Run
from airflow_provider_drpipelines.emulator.source import PYTHON_VERSION, TaskDef
from airflow_provider_drpipelines.emulator.state import (
    Image,
    ImageVersion,
    Input,
    Pipeline,
    PipelineScope,
    PipelineVersion,
    Schedule,
)
from airflow_provider_drpipelines.emulator.wire import JSONObject, rfc3339
from airflow_provider_drpipelines.statuses import ImageStatus


def version(item: PipelineVersion, now: float) -> JSONObject:
    return {
        "version": item.number,
        "status": item.status(now),
        "taskNames": item.parsed.task_names,
        "pythonVersion": PYTHON_VERSION,
        "resourceBundle": None,
        "errorDetail": item.error_detail(now),
        "createdAt": rfc3339(item.created_at),
    }


def linked_image(image: Image | None, now: float) -> JSONObject | None:
    if image is None:
        return None
    newest = image.active_versions[0]
    return {
        "imageId": image.id,
        "name": image.name,
        "version": newest.number,
        "status": newest.status(now),
        "errorDetail": newest.build_error if newest.status(now) == ImageStatus.ERROR else None,
    }


def pipeline(item: Pipeline, image: Image | None, now: float) -> JSONObject:
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "mode": item.mode,
        "isActive": True,
        "taskNames": item.latest.parsed.task_names,
        "inputSetTemplate": item.latest.parsed.input_set_template,
        "imageId": item.image_id,
        "linkedImage": linked_image(image, now),
        "pythonVersion": PYTHON_VERSION,
        "resourceBundle": None,
        "version": item.latest.number,
        "status": item.latest.status(now),
        "latestVersion": item.latest.number,
        "createdAt": rfc3339(item.created_at),
        "updatedAt": rfc3339(item.updated_at),
        "versions": [version(v, now) for v in item.versions],
    }


def created(item: Pipeline, now: float) -> JSONObject:
    """CreateResponse: answer of create, update, lock and clone; ``version`` is the newest number."""
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "version": item.latest.number,
        "status": item.latest.status(now),
        "mode": item.mode,
        "taskNames": item.latest.parsed.task_names,
        "imageId": item.image_id,
        "createdAt": rfc3339(item.created_at),
    }


def pipeline_item(item: Pipeline, now: float) -> JSONObject:
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "mode": item.mode,
        "isActive": True,
        "latestVersion": item.latest.number,
        "version": item.latest.number,
        "status": item.latest.status(now),
        "createdAt": rfc3339(item.created_at),
        "updatedAt": rfc3339(item.updated_at),
    }


def graph(scope: PipelineScope) -> JSONObject:
    parsed = scope.version.parsed
    return {
        "pipeline": {"name": scope.pipeline.name, "pythonVersion": PYTHON_VERSION},
        "nodes": [
            {
                "id": node.id,
                "type": "function",
                "name": node.task.name,
                "source": node.task.source,
                "resourceBundle": None,
                "taskGroupId": None,
                "taskId": node.task.id,
            }
            for node in parsed.nodes
        ],
        "edges": [
            {
                "source": edge.source,
                "target": edge.target,
                "edgeName": edge.edge_name,
                "paramType": edge.param_type,
                "argIndex": edge.arg_index,
            }
            for edge in parsed.edges
        ],
    }


def task(scope: PipelineScope, item: TaskDef, inputs: JSONObject | None) -> JSONObject:
    return {
        "id": item.id,
        "pipelineId": scope.pipeline.id,
        "versionId": scope.locked_version,
        "name": item.name,
        "parameters": [{"name": p.name, "annotation": p.annotation} for p in item.parameters],
        "inputs": inputs,
        "source": item.source,
        "resourceBundle": None,
        "taskGroupId": None,
    }


def input_(item: Input) -> JSONObject:
    return {
        "id": item.id,
        "pipelineId": item.pipeline_id,
        "versionId": item.version,
        "isDraft": item.version is None,
        "payload": item.payload,
        "state": item.state,
        "createdAt": rfc3339(item.created_at),
        "updatedAt": rfc3339(item.updated_at),
    }


def run(item: Run, now: float) -> JSONObject:
    status, since = item.status(now)
    return {
        "id": item.id,
        "pipelineId": item.pipeline_id,
        "versionId": item.version,
        "inputId": item.input_id,
        "imageId": item.image_id,
        "imageVersion": item.image_version,
        "covalentDispatchId": item.covalent_id(now),
        "triggeredBy": item.triggered_by,
        "status": status,
        "errorDetail": item.error_detail(now),
        "createdAt": rfc3339(item.created_at),
        "updatedAt": rfc3339(since),
    }


def run_status(item: Run, now: float) -> JSONObject:
    return {"id": item.id, "status": item.status(now)[0], "covalentDispatchId": item.covalent_id(now)}


def execution(item: Execution) -> JSONObject:
    return {
        "taskId": item.node.task.id,
        "nodeId": item.node.id,
        "graphNodeId": item.node.id,
        "name": item.node.task.name,
        "status": item.status,
        "startedAt": rfc3339(item.started_at),
        "completedAt": rfc3339(item.completed_at),
        "errorDetail": item.error_detail,
    }


def result(value: Any, url: str) -> JSONObject:
    return {
        "url": url,
        "expiresIn": 900,
        "contentType": "application/octet-stream",
        "value": value,
        "valueAvailable": True,
        "valueUnavailableReason": None,
        "valueText": str(value),
        "valueTextTruncated": False,
    }


def schedule(item: Schedule) -> JSONObject:
    return {
        "id": item.id,
        "pipelineId": item.pipeline_id,
        "version": item.version,
        "imageId": item.image_id,
        "imageVersion": item.image_version,
        "cronExpression": item.cron_expression,
        "timezone": item.timezone,
        "status": item.status,
        "createdAt": rfc3339(item.created_at),
        "updatedAt": rfc3339(item.updated_at),
    }


def image_version(item: ImageVersion, image_id: str, now: float) -> JSONObject:
    status = item.status(now)
    ready = status == ImageStatus.READY
    return {
        "version": item.number,
        "definition": item.definition,
        "status": status,
        "errorDetail": item.build_error if status == ImageStatus.ERROR else None,
        "imageUri": f"registry.emulator.local/pipelines/{image_id}:v{item.number}" if ready else None,
        "createdAt": rfc3339(item.created_at),
        "updatedAt": rfc3339(item.ready_at if ready else item.created_at),
    }


def image(item: Image, now: float) -> JSONObject:
    versions = item.active_versions
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "latestVersion": versions[0].number,
        "versions": [image_version(v, item.id, now) for v in versions],
        "createdAt": rfc3339(item.created_at),
        "updatedAt": rfc3339(item.updated_at),
    }


def image_summary(item: Image, now: float) -> JSONObject:
    newest = item.active_versions[0]
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "latestVersion": newest.number,
        "latestStatus": newest.status(now),
        "createdAt": rfc3339(item.created_at),
        "updatedAt": rfc3339(item.updated_at),
    }
