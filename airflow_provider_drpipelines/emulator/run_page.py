"""The HTML page the provider's extra link opens when the connection targets the emulator.

Plain server-rendered HTML, no frontend build: what a demo user needs of one run (status, version, input,
image, timestamps, every task with its status, the error and log tail of a failed task). Every value is
escaped. While the run is not terminal the page reloads itself.
"""

from __future__ import annotations

import json
from html import escape

from airflow_provider_drpipelines.emulator.runs import Execution, Run
from airflow_provider_drpipelines.emulator.wire import rfc3339
from airflow_provider_drpipelines.statuses import FAILED_TASK_STATUSES, TERMINAL_RUN_STATUSES

REFRESH_SECONDS = 2
LOG_TAIL_LINES = 20
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
pre{background:#f5f5f5;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
.status{font-weight:700}.COMPLETED{color:#1a7f37}.FAILED,.ERRORED{color:#c62828}.CANCELLED{color:#8a6d00}
.failure{border-left:4px solid #c62828;padding-left:1rem}
"""


def _status(status: str, element_id: str | None = None) -> str:
    id_attr = f' id="{escape(element_id)}"' if element_id else ""
    return f'<span class="status {escape(status)}"{id_attr}>{escape(status)}</span>'


def _when(timestamp: float | None) -> str:
    return escape(rfc3339(timestamp) or "-")


def _task_row(execution: Execution) -> str:
    return (
        f'<tr class="task"><td>{escape(execution.node.task.name)}</td><td>{execution.node.id}</td>'
        f"<td>{_status(execution.status)}</td><td>{_when(execution.started_at)}</td>"
        f"<td>{_when(execution.completed_at)}</td></tr>"
    )


def _failure(run: Run, execution: Execution) -> str:
    lines = [f"[{stream}] {text}" for stream, _, text in run.log_lines(execution)][-LOG_TAIL_LINES:]
    return (
        f'<section class="failure"><h2>Task {escape(execution.node.task.name)} '
        f"(node {execution.node.id}): {_status(execution.status)}</h2>"
        f'<p class="error">{escape(execution.error_detail or "no error detail")}</p>'
        f"<p>Last {len(lines)} log lines:</p><pre>{escape(chr(10).join(lines))}</pre></section>"
    )


def _tasks(run: Run, executions: list[Execution], status: str) -> str:
    if not executions:
        return f"<p>No task has started yet: tasks run once the run is RUNNING (it is {escape(status)}).</p>"
    header = "<tr><th>Task</th><th>Node</th><th>Status</th><th>Started</th><th>Completed</th></tr>"
    rows = "".join(_task_row(execution) for execution in executions)
    failures = "".join(_failure(run, e) for e in executions if e.status in FAILED_TASK_STATUSES)
    return f'<table id="tasks">{header}{rows}</table>{failures}'


def render(run: Run, pipeline_name: str, now: float) -> str:
    """The whole page for ``run`` as of ``now``."""
    status, since = run.status(now)
    terminal = status in TERMINAL_RUN_STATUSES
    refresh = "" if terminal else f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
    version = "draft" if run.version is None else str(run.version)
    image = "none (the pipeline's default environment)"
    if run.image_id:
        image = f"{run.image_id} version {run.image_version}"
    error = run.error_detail(now)
    facts = [
        ("Pipeline", f"{escape(pipeline_name)} ({escape(run.pipeline_id)})"),
        ("Run", escape(run.id)),
        ("Status", _status(status, "status") + ("" if terminal else f" (refreshing every {REFRESH_SECONDS} s)")),
        ("Version", escape(version)),
        ("Input", escape(run.input_id)),
        ("Image", escape(image)),
        ("Created", _when(run.created_at)),
        ("Finished" if terminal else "Status since", _when(since)),
    ]
    if error:
        facts.append(("Error", f'<span id="run-error">{escape(error)}</span>'))
    payload = json.dumps(run.payload, indent=2, sort_keys=True)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{refresh}'
        f"<title>Run {escape(run.id)}: {escape(status)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Pipeline run {escape(run.id)}</h1>"
        f"<p>DataRobot pipelines emulator: a local stand-in for the DataRobot run page.</p>"
        f"<dl>{''.join(f'<dt>{label}</dt><dd>{value}</dd>' for label, value in facts)}</dl>"
        f"<h2>Tasks</h2>{_tasks(run, run.executions(now), status)}"
        f'<h2>Input payload</h2><pre id="payload">{escape(payload)}</pre></body></html>'
    )
