"""Static reading of a pipeline source file, shared by the deploy operator and the emulator.

Standard library only: the emulator imports it without Airflow, and neither side ever runs user code.
"""

from __future__ import annotations

import ast

PIPELINE_DECORATORS = frozenset({"pipeline", "lattice"})
TASK_DECORATORS = frozenset({"task", "electron"})
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def decorator_name(node: ast.expr) -> str | None:
    """``task``, ``dr.task``, ``task(...)`` and ``ct.electron(...)`` all name their last identifier."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def has_decorator(func: FunctionNode, names: frozenset[str]) -> bool:
    return any(decorator_name(dec) in names for dec in func.decorator_list)


def functions(module: ast.Module) -> list[FunctionNode]:
    return [node for node in ast.walk(module) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


def pipeline_functions(module: ast.Module) -> list[FunctionNode]:
    return [func for func in functions(module) if has_decorator(func, PIPELINE_DECORATORS)]


def default_pipeline_name(function_name: str) -> str:
    """The display name the service gives a pipeline: its function title-cased (``my_workflow`` → ``My Workflow``)."""
    return function_name.replace("_", " ").strip().title()
