"""Static reading of an uploaded covalent-style pipeline file.

The emulator must never import or execute user code (it would run arbitrary Python inside the
server), so everything it reports about a pipeline -- name, tasks, graph -- comes from ``ast``.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass

PIPELINE_DECORATORS = frozenset({"pipeline", "lattice"})
TASK_DECORATORS = frozenset({"task", "electron"})
PYTHON_VERSION = "3.12"


class SourceError(ValueError):
    """The file is not a usable pipeline (answered as HTTP 400)."""


@dataclass(frozen=True)
class TaskParameter:
    name: str
    annotation: str | None


@dataclass(frozen=True)
class TaskDef:
    """One ``@task`` function; ``id`` is its 1-based position in definition order."""

    id: int
    name: str
    parameters: tuple[TaskParameter, ...]
    source: str
    lineno: int


@dataclass(frozen=True)
class GraphNode:
    """One task call in the pipeline body: a node of the transport graph and, at run time, one execution."""

    id: int
    task: TaskDef


@dataclass(frozen=True)
class GraphEdge:
    source: int
    target: int
    edge_name: str
    param_type: str
    arg_index: int | None


@dataclass(frozen=True)
class ParsedPipeline:
    function_name: str
    tasks: tuple[TaskDef, ...]
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]

    @property
    def default_name(self) -> str:
        """The display name the service derives from the function name (``my_workflow`` → ``My Workflow``)."""
        return self.function_name.replace("_", " ").strip().title()

    @property
    def task_names(self) -> list[str]:
        return [task.name for task in self.tasks]

    def task_by_name(self, name: str) -> TaskDef | None:
        return next((task for task in self.tasks if task.name == name), None)


def _decorator_name(node: ast.expr) -> str | None:
    """``task``, ``dr.task``, ``task(...)`` and ``ct.electron(...)`` all name their last identifier."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _has_decorator(func: ast.FunctionDef | ast.AsyncFunctionDef, names: frozenset[str]) -> bool:
    return any(_decorator_name(dec) in names for dec in func.decorator_list)


def _parameters(func: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[TaskParameter, ...]:
    args = func.args
    every = [*args.posonlyargs, *args.args]
    if args.vararg:
        every.append(args.vararg)
    every.extend(args.kwonlyargs)
    if args.kwarg:
        every.append(args.kwarg)
    return tuple(TaskParameter(arg.arg, ast.unparse(arg.annotation) if arg.annotation else None) for arg in every)


def _function_source(lines: list[str], func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The function's text including its decorators, dedented (as the service shows it)."""
    start = min([dec.lineno for dec in func.decorator_list] + [func.lineno])
    return textwrap.dedent("\n".join(lines[start - 1 : func.end_lineno])) + "\n"


class _CallCollector(ast.NodeVisitor):
    """Collects task calls of the pipeline body in execution order (arguments before the call using them)."""

    def __init__(self, tasks: dict[str, TaskDef]) -> None:
        self.tasks = tasks
        self.nodes: list[GraphNode] = []
        self.edges: list[GraphEdge] = []
        self.node_of_call: dict[int, int] = {}
        self.node_of_variable: dict[str, int] = {}

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        produced = self.node_of_call.get(id(node.value))
        for target in node.targets:
            if isinstance(target, ast.Name):
                if produced is None:
                    self.node_of_variable.pop(target.id, None)
                else:
                    self.node_of_variable[target.id] = produced

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        task = self.tasks.get(_decorator_name(node.func) or "")
        if task is None:
            return
        graph_node = GraphNode(len(self.nodes), task)
        self.nodes.append(graph_node)
        self.node_of_call[id(node)] = graph_node.id
        for index, arg in enumerate(node.args):
            name = task.parameters[index].name if index < len(task.parameters) else f"arg[{index}]"
            self._edge(arg, graph_node.id, name, "arg", index)
        for keyword in node.keywords:
            if keyword.arg is not None:
                self._edge(keyword.value, graph_node.id, keyword.arg, "kwarg", None)

    def _edge(self, arg: ast.expr, target: int, name: str, param_type: str, index: int | None) -> None:
        source = self.node_of_call.get(id(arg))
        if source is None and isinstance(arg, ast.Name):
            source = self.node_of_variable.get(arg.id)
        if source is not None:
            self.edges.append(GraphEdge(source, target, name, param_type, index))


def parse_pipeline(text: str, filename: str) -> ParsedPipeline:
    """Find the single ``@pipeline`` function and the ``@task`` functions of a file, without running it."""
    try:
        module = ast.parse(text, filename=filename)
    except SyntaxError as exc:
        raise SourceError(f"invalid Python in {filename}, line {exc.lineno}: {exc.msg}") from None
    functions = [node for node in ast.walk(module) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    pipelines = [func for func in functions if _has_decorator(func, PIPELINE_DECORATORS)]
    if not pipelines:
        raise SourceError(f"no @pipeline function found in {filename}")
    if len(pipelines) > 1:
        names = ", ".join(func.name for func in pipelines)
        raise SourceError(f"more than one @pipeline function found in {filename}: {names}")
    lines = text.splitlines()
    task_funcs = sorted((func for func in functions if _has_decorator(func, TASK_DECORATORS)), key=lambda f: f.lineno)
    tasks = tuple(
        TaskDef(
            id=position,
            name=func.name,
            parameters=_parameters(func),
            source=_function_source(lines, func),
            lineno=func.lineno,
        )
        for position, func in enumerate(task_funcs, start=1)
    )
    collector = _CallCollector({task.name: task for task in tasks})
    for statement in pipelines[0].body:
        collector.visit(statement)
    nodes = collector.nodes or [GraphNode(index, task) for index, task in enumerate(tasks)]
    return ParsedPipeline(pipelines[0].name, tasks, tuple(nodes), tuple(collector.edges))
