"""Scenario file -> Topology: render (jinja2), parse (YAML with lines), validate, resolve, lint.

Every way a scenario can be wrong ends as a ScenarioError listing Problems with a line;
no other exception escapes for bad input.
"""

from __future__ import annotations

import dataclasses
import difflib
import traceback
import types
import typing
from pathlib import Path as FilePath
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ValidationError

from harness.scenario.errors import Problem, ScenarioError
from harness.scenario.linemap import LineMap, identity, line_map
from harness.scenario.lint import lint, lint_warnings
from harness.scenario.resolve import resolve
from harness.scenario.schema import ScenarioModel
from harness.scenario.stages import lint_stages
from harness.scenario.yaml_lines import Path, YamlProblem, line_of, parse
from harness.topology import Topology

_TEMPLATE_FILENAME = "<template>"  # how jinja2 names frames of a template made from a string


def load_scenario(path: FilePath | str, variables: dict[str, str] | None = None,
                  engine: str | None = None) -> Topology:
    """Load, validate and resolve the scenario at `path` (a jinja2 template of YAML).

    `engine`: the engine chosen for the run (`--engine`), over the scenario's own `engine:`;
    its name is in the messages (`'br9' is not an Incus network of host1`)."""
    filename = str(path)
    try:
        text = FilePath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(filename, None, "", f"cannot read: {exc}")]) from None
    return load_text(text, filename, variables, engine)


def load_text(
    text: str, filename: str = "<string>", variables: dict[str, str] | None = None,
    engine: str | None = None,
) -> Topology:
    """Like load_scenario, for a scenario given as text; `filename` is used in Problems."""
    rendered = render_template(text, filename, variables)
    data, lines = parse_yaml(rendered, filename, line_map(text, rendered))
    model = validate(data, lines, filename)
    topology, problems = resolve(model, lines, filename)
    if problems:
        raise ScenarioError(problems)
    if engine is not None:
        topology = dataclasses.replace(topology, engine=engine)
    problems = lint(topology, lines, filename) + lint_stages(topology, lines, filename)
    if problems:
        raise ScenarioError(problems)
    warnings = lint_warnings(topology, lines, filename)
    return dataclasses.replace(topology, warnings=tuple(f"{p}" for p in warnings))


def render_template(text: str, filename: str, variables: dict[str, str] | None = None) -> str:
    """Render the scenario through jinja2; undefined variables are errors.

    Block tags keep their line (lstrip_blocks, no trim_blocks) so that line numbers of
    the rendered YAML match the file as long as the template expands no loop.
    """
    env = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, lstrip_blocks=True
    )
    try:
        return env.from_string(text).render(dict(variables or {}))
    except jinja2.TemplateSyntaxError as exc:
        problem = Problem(filename, exc.lineno or 1, "", f"template: {exc.message}")
    except Exception as exc:  # undefined variables, errors inside expressions (1/0, ...)
        problem = Problem(filename, _template_line(exc), "", f"template: {exc}")
    raise ScenarioError([problem])


def _template_line(exc: BaseException) -> int:
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if f.filename == _TEMPLATE_FILENAME
    ]
    return (frames[-1].lineno or 1) if frames else 1


def parse_yaml(
    text: str, filename: str, to_source: LineMap = identity
) -> tuple[Any, dict[Path, int]]:
    """Parse YAML text; its lines are mapped to lines of the file by `to_source`."""
    try:
        data, lines, problems = parse(text)
    except YamlProblem as exc:
        problem = Problem(filename, to_source(exc.line), _dotted(exc.path), exc.message)
        raise ScenarioError([problem]) from None
    if problems:
        raise ScenarioError(
            Problem(filename, to_source(p.line), _dotted(p.path), p.message) for p in problems
        )
    lines = {path: to_source(line) for path, line in lines.items()}
    if data is None:
        raise ScenarioError([Problem(filename, 1, "", "the scenario is empty")])
    if not isinstance(data, dict):
        message = "a scenario is a mapping (name:, hosts:, checks:, ...)"
        raise ScenarioError([Problem(filename, line_of(lines, ()), "", message)])
    return data, lines


def validate(data: dict[str, Any], lines: dict[Path, int], filename: str) -> ScenarioModel:
    try:
        return ScenarioModel.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            path = _data_path(error["loc"], data)
            message = _message(error, path)
            problems.append(Problem(filename, line_of(lines, path), _dotted(path), message))
        raise ScenarioError(problems) from None


def _dotted(path: Path) -> str:
    return ".".join(str(part) for part in path)


def _data_path(loc: tuple[Any, ...], data: Any) -> Path:
    """The path in the document for a pydantic error location."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":  # the error is about the key itself, already the last part
            break
        present = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if present:
            node = node[part]
            path.append(part)
        elif isinstance(part, str) and "[" in part:
            continue  # a pydantic-internal step (function-after[...], union member, ...)
        else:
            path.append(part)  # a missing key
            node = None
    return tuple(path)


_YAML_TYPES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "nothing (null)",
}


def _message(error: dict[str, Any], path: Path) -> str:
    kind = error["type"]
    given = _YAML_TYPES.get(type(error.get("input")), type(error.get("input")).__name__)
    if kind == "missing":
        return "required but missing"
    if kind == "extra_forbidden":
        return _unknown_key_message(path)
    if kind == "value_error":
        return str(error["ctx"]["error"])
    expected = {
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
        "list_type": "a list",
        "string_type": "a string",
        "int_type": "an integer",
        "bool_type": "true or false",
    }.get(kind)
    if expected:
        return f"expected {expected}, got {given}"
    message = error["msg"]
    return message.replace("Input should", "should", 1)


def _unknown_key_message(path: Path) -> str:
    key = str(path[-1]) if path else ""
    allowed = _allowed_keys(path[:-1])
    message = f"unknown key {key!r}"
    if allowed:
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        message += f"; allowed here: {', '.join(allowed)}"
    return message


def _allowed_keys(path: Path) -> list[str]:
    """The keys the model at `path` accepts, as written in YAML."""
    annotation: Any = ScenarioModel
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = {f.alias or name: f for name, f in annotation.model_fields.items()}
            if part not in fields:
                return []
            annotation = fields[part].annotation
        elif typing.get_origin(annotation) in (dict, list):
            annotation = typing.get_args(annotation)[-1]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or name for name, f in annotation.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and `| None` around a type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
