"""Templated operator arguments: which values are still templates, and the payload as a JSON object."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from airflow_provider_drpipelines.exceptions import DataRobotConfigError

_SINGLE_EXPRESSION = re.compile(r"\{\{(?:(?!\}\}).)*\}\}", re.DOTALL)


def check_payload_argument(payload: Any) -> None:
    """Refuse at DAG-parse time what can never be a JSON object (templates and XComArgs are checked later).

    Depth is checked before Airflow sees the payload: its template machinery walks it recursively.
    """
    from airflow_provider_drpipelines.client.limits import check_payload_depth

    if isinstance(payload, list | tuple | set | int | float | bool):
        raise DataRobotConfigError(
            f"payload must be a JSON object (dict) or the path of a .json file, got {type(payload).__name__}."
        )
    check_payload_depth(payload)


def native_value(template: Any, rendered: Any) -> Any:
    """Give a value written as exactly one ``{{ ... }}`` its native type, as Airflow's native rendering does."""
    if isinstance(rendered, dict) and isinstance(template, dict):
        return {key: native_value(template.get(key), value) for key, value in rendered.items()}
    if isinstance(rendered, list) and isinstance(template, list) and len(rendered) == len(template):
        return [native_value(t, r) for t, r in zip(template, rendered, strict=True)]
    if isinstance(rendered, str) and isinstance(template, str) and _SINGLE_EXPRESSION.fullmatch(template.strip()):
        try:
            value = ast.literal_eval(rendered)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return rendered
        return list(value) if isinstance(value, tuple) else value
    return rendered


def resolve_payload(template: Any, rendered: Any) -> dict[str, Any]:
    """The rendered ``payload`` argument as a JSON object, or a clear error before any API call."""
    from airflow_provider_drpipelines.client.paths import json_object_payload

    value = native_value(template, rendered)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except RecursionError:  # JSON text (a .json file) nested past what the parser copes with
            from airflow_provider_drpipelines.client.limits import too_deep

            raise too_deep("The pipeline input payload") from None
        except ValueError:
            raise DataRobotConfigError(
                f"payload is a string that is not JSON: {value[:80]!r}. Pass a dict, or the path of a .json "
                "file relative to the DAG folder or template_searchpath."
            ) from None
    return json_object_payload(value)


def is_template(value: Any) -> bool:
    """Whether an argument still holds a Jinja template (checked once rendered, not at parse time)."""
    return isinstance(value, str) and "{{" in value
