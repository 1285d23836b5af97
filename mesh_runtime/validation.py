"""Parse a YAML or JSON file into a pydantic model, with one clear line on failure.

An unknown field's message lists the fields the model expects there. A validator that
checks a value against another model (a policy patch, a behaviour change) raises
`NestedProblem(path, problem)`: the error's field path then continues inside the value
(`faults[0].params.latency.mean: unknown field; expected one of ...`).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from mesh_runtime.errors import InvalidInput
from mesh_runtime.input_file import read_input_text

M = TypeVar("M", bound=BaseModel)


class NestedProblem(ValueError):
    """A validator's problem at `path` inside the value it checked; `str(exc)` is the problem."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(problem)
        self.path = path

    @classmethod
    def of(cls, exc: ValidationError, data: Any, model: type[BaseModel]) -> NestedProblem:
        """The first problem pydantic found validating `data` as `model`."""
        return cls(*first_problem(exc, data, model))


def field_path(loc: tuple[Any, ...]) -> str:
    """'faults[1].duration' from pydantic's location tuple ('faults', 1, 'duration')."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def first_problem(
    exc: ValidationError, data: Any = None, model: type[BaseModel] | None = None
) -> tuple[str, str]:
    """The field path and message of the first error pydantic found in `data` (validated
    as `model`, which names the expected fields of an unknown one)."""
    errors = exc.errors(include_url=False)
    error = errors[0]
    if error["type"] == "missing":  # a misspelt field is missing and unknown: name the typo
        parent = tuple(error["loc"])[:-1]
        error = next(
            (e for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == parent),
            error,
        )
    loc = _data_path(tuple(error["loc"]), data)
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    kind = error["type"]
    ctx = error.get("ctx") or {}
    nested = ctx.get("error")
    if isinstance(nested, NestedProblem):
        path = field_path(loc)
        inner = nested.path if nested.path.startswith("[") or not path else f".{nested.path}"
        return path + (inner if nested.path else ""), str(nested)
    if kind == "missing":
        message = "required field is missing"
    elif kind == "extra_forbidden":
        message = "unknown field" + _expected(model, tuple(error["loc"]))
    elif kind == "union_tag_invalid":
        message = (
            f"unknown {ctx.get('discriminator', 'kind').strip(chr(39))} {ctx.get('tag')!r}"
            f" (expected one of: {ctx.get('expected_tags')})"
        )
    return field_path(loc), message


def _expected(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """'; expected one of a, b' - the fields the model has where `loc` ends ('' if unknown)."""
    node: Any = model
    for part in loc[:-1]:
        node = _field_type(node, part)
    node = _model_in(node, None)
    if node is None:
        return ""
    names = sorted(node.model_fields)
    return f"; expected one of {', '.join(names)}" if names else "; nothing is expected here"


def _field_type(node: Any, part: Any) -> Any:
    """The type at `part` inside type `node`, following pydantic's location parts."""
    if isinstance(part, str) and ("[" in part or part.startswith("function-")):
        return node
    origin = get_origin(node)
    if origin is Annotated:
        return _field_type(get_args(node)[0], part)
    if origin in (Union, types.UnionType):
        return _model_in(node, part) or node
    if origin in (list, tuple, set, frozenset) and isinstance(part, int):
        return get_args(node)[0] if get_args(node) else None
    if origin is dict:
        return get_args(node)[1] if get_args(node) else None
    if isinstance(node, type) and issubclass(node, BaseModel) and isinstance(part, str):
        field = node.model_fields.get(part)
        return field.annotation if field is not None else None
    return None


def _model_in(node: Any, tag: Any) -> type[BaseModel] | None:
    """The model `node` is (through Annotated and Optional), or the union member whose
    discriminator is `tag`."""
    if get_origin(node) is Annotated:
        return _model_in(get_args(node)[0], tag)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return node
    if get_origin(node) not in (Union, types.UnionType):
        return None
    members = [m for m in (_model_in(a, None) for a in get_args(node)) if m is not None]
    tagged = [m for m in members if tag is not None and _has_tag(m, tag)]
    if tagged:
        return tagged[0]
    return members[0] if len(members) == 1 and tag is None else None


def _has_tag(model: type[BaseModel], tag: Any) -> bool:
    return any(
        get_origin(f.annotation) is Literal and tag in get_args(f.annotation)
        for f in model.model_fields.values()
    )


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop the parts of pydantic's location that name union members, not fields."""
    kept: list[Any] = []
    node = data
    for part in loc:
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        if _is_union_tag(part, node):
            continue
        kept.append(part)
        node = _child(node, part)
    return tuple(kept)


def _is_union_tag(part: Any, node: Any) -> bool:
    """A discriminated union's tag in pydantic's location, e.g. the fault's kind."""
    return (
        isinstance(part, str)
        and isinstance(node, dict)
        and part not in node
        and part in {v for v in node.values() if isinstance(v, str)}
    )


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def model_from_data(
    data: Any, model: type[M], source: str, error: type[InvalidInput] = InvalidInput
) -> M:
    """Validate already-parsed data; errors name `source` and the field path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        path, problem = first_problem(exc, data, model)
        raise error(source, path, problem) from None


WrongKind = Callable[[dict[str, Any]], str | None]
"""Says why parsed data is another kind of file ('this is a topology file; ...'), or None."""


def load_model(
    path: str | Path,
    model: type[M],
    error: type[InvalidInput] = InvalidInput,
    wrong_kind: WrongKind | None = None,
) -> M:
    """Read a YAML (or JSON) file into `model`; any problem is one `error` line."""
    source = str(path)
    text = read_input_text(path, error)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        language = "JSON" if Path(source).suffix.lower() == ".json" else "YAML"
        problem = f"not valid {language}: {getattr(exc, 'problem', exc)}"
        raise error(source, where, problem) from None
    if not isinstance(data, dict):
        raise error(source, "", "expected a mapping at the top level")
    other = wrong_kind(data) if wrong_kind is not None else None
    if other:
        raise error(source, "", other)
    return model_from_data(data, model, source, error)
