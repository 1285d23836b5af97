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


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """The field path and message of the first error pydantic found."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(p for p in error["loc"] if not _is_union_tag(p))
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if error["type"] == "missing":
        message = "required field is missing"
    elif error["type"] == "extra_forbidden":
        message = "unknown field"
    return field_path(loc), message


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def model_from_data(
    data: Any, model: type[M], source: str, error: type[InvalidInput] = InvalidInput
) -> M:
    """Validate already-parsed data; errors name `source` and the field path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        path, problem = first_problem(exc)
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
