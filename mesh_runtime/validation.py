"""Parse a YAML or JSON file into a pydantic model, with one clear line on failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mesh_runtime.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[Any, ...]) -> str:
    """'faults[1].duration' from pydantic's location tuple ('faults', 1, 'duration')."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def first_problem(exc: ValidationError, data: Any = None) -> tuple[str, str]:
    """The field path and message of the first error pydantic found in `data`."""
    error = exc.errors(include_url=False)[0]
    loc = _data_path(tuple(error["loc"]), data)
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        message = "required field is missing"
    elif kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "union_tag_invalid":
        message = (
            f"unknown {ctx.get('discriminator', 'kind').strip(chr(39))} {ctx.get('tag')!r}"
            f" (expected one of: {ctx.get('expected_tags')})"
        )
    return field_path(loc), message


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
        path, problem = first_problem(exc, data)
        raise error(source, path, problem) from None


def load_model(path: str | Path, model: type[M], error: type[InvalidInput] = InvalidInput) -> M:
    """Read a YAML (or JSON) file into `model`; any problem is one `error` line."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(source, "", "no such file") from None
    except OSError as exc:
        raise error(source, "", f"cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise error(source, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise error(source, "", "expected a mapping at the top level")
    return model_from_data(data, model, source, error)
