"""Static reading of an uploaded covalent-style pipeline file.

The emulator must never import or execute user code (it would run arbitrary Python inside the
server), so everything it reports about a pipeline -- name, tasks, graph -- comes from ``ast``.
"""

from __future__ import annotations

import ast
import json
import textwrap
from dataclasses import dataclass

from airflow_provider_drpipelines.utils.source import (
    TASK_DECORATORS,
    FunctionNode,
    decorator_name,
    default_pipeline_name,
    functions,
    has_decorator,
    pipeline_functions,
)

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
class PipelineParameter:
    """One parameter of the ``@pipeline`` function: a key of the input payload."""

    name: str
    required: bool
    default: object = None


@dataclass(frozen=True)
class ParsedPipeline:
    function_name: str
    tasks: tuple[TaskDef, ...]
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    parameters: tuple[PipelineParameter, ...] = ()
    #: Why tracing the graph fails (the version becomes FAILED with this errorDetail); None when it works.
    trace_error: str | None = None

    @property
    def input_set_template(self) -> str:
        """``inputSetTemplate``: a JSON object text of the payload keys, defaults filled in, required ones null."""
        return json.dumps({p.name: None if p.required else p.default for p in self.parameters})

    def payload_problems(self, payload: dict[str, object], ignored: str) -> list[str]:
        """Why a payload does not fit the signature (missing required keys, unknown keys); empty when it does."""
        names = {p.name for p in self.parameters}
        missing = [p.name for p in self.parameters if p.required and p.name not in payload]
        unknown = sorted(key for key in payload if key not in names and key != ignored)
        problems = [f"missing required parameter {name!r}" for name in missing]
        return problems + [f"unknown parameter {key!r}" for key in unknown]

    @property
    def default_name(self) -> str:
        return default_pipeline_name(self.function_name)

    @property
    def task_names(self) -> list[str]:
        return [task.name for task in self.tasks]

    def task_by_name(self, name: str) -> TaskDef | None:
        return next((task for task in self.tasks if task.name == name), None)


def _parameters(func: FunctionNode) -> tuple[TaskParameter, ...]:
    args = func.args
    every = [*args.posonlyargs, *args.args]
    if args.vararg:
        every.append(args.vararg)
    every.extend(args.kwonlyargs)
    if args.kwarg:
        every.append(args.kwarg)
    return tuple(TaskParameter(arg.arg, ast.unparse(arg.annotation) if arg.annotation else None) for arg in every)


def _pipeline_parameters(func: FunctionNode) -> tuple[PipelineParameter, ...]:
    """Positional and keyword parameters with their defaults (non-literal defaults show as their source text)."""
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = [*zip(positional, defaults, strict=True), *zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    return tuple(PipelineParameter(arg.arg, default is None, _literal(default)) for arg, default in pairs)


def _literal(node: ast.expr | None) -> object:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)


def _trace_error(text: str, filename: str) -> str | None:
    """What the service's graph tracing would stumble on: code that parses but does not compile."""
    try:
        compile(text, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg} ({filename}, line {exc.lineno})"
    return None


def _function_source(lines: list[str], func: FunctionNode) -> str:
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
        task = self.tasks.get(decorator_name(node.func) or "")
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
    pipelines = pipeline_functions(module)
    if not pipelines:
        raise SourceError(f"no @pipeline function found in {filename}")
    if len(pipelines) > 1:
        names = ", ".join(func.name for func in pipelines)
        raise SourceError(f"more than one @pipeline function found in {filename}: {names}")
    lines = text.splitlines()
    task_funcs = sorted(
        (func for func in functions(module) if has_decorator(func, TASK_DECORATORS)), key=lambda f: f.lineno
    )
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
    return ParsedPipeline(
        pipelines[0].name,
        tasks,
        tuple(nodes),
        tuple(collector.edges),
        _pipeline_parameters(pipelines[0]),
        _trace_error(text, filename),
    )
