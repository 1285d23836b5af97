"""Read the pushed (or `--config`) MeshConfig into the sidecar's dataclasses, and back.

    read_config(data, source) -> MeshConfig        parsed JSON / YAML -> the dataclasses
    load_config_file(path) -> MeshConfig           a static config file, as `--config`
    dump_config(config) -> dict                    the JSON form (as model_dump(mode="json"))

A small typed reader driven by the dataclasses' type hints (`mesh_runtime.sidecar.
meshconfig`): mappings become dataclasses, unknown fields are refused, values are checked
against their types, bounds and rules, and a problem is one `InvalidInput` line naming the
field path, as `mesh_runtime.validation` says it for the pydantic models. Numbers are read
as pydantic's lax mode does (an integral float or a digit string is an int).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import types
from collections.abc import Callable
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Literal,
    NamedTuple,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from mesh_runtime.errors import InvalidInput
from mesh_runtime.input_file import read_input_text
from mesh_runtime.quantities import format_duration, parse_duration, parse_percentage
from mesh_runtime.sidecar.meshconfig import MeshConfig

T = TypeVar("T")
Reader = Callable[[Any], Any]


class _Problem(Exception):
    """A problem at `parts` (keys and indexes, innermost last) below the value being read:
    the containers add their part on the way out, so a good config builds no paths."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.parts: list[str | int] = []

    def at(self, part: str | int) -> _Problem:
        self.parts.insert(0, part)
        return self

    @property
    def path(self) -> str:
        text = ""
        for part in self.parts:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text


def read_config(data: Any, source: str) -> MeshConfig:
    """`data` (parsed JSON or YAML) as a MeshConfig; InvalidInput names `source` and the path."""
    return read_as(MeshConfig, data, source)


def read_as(cls: type[T], data: Any, source: str) -> T:
    try:
        value: T = _reader(cls)(data)
    except _Problem as exc:
        raise InvalidInput(source, exc.path, exc.problem) from None
    return value


def load_config_file(path: str | Path) -> MeshConfig:
    """A static MeshConfig (JSON, or YAML: yaml is imported only for a non-JSON file)."""
    source = str(path)
    text = read_input_text(path)
    try:
        data = json.loads(text)
    except ValueError:
        data = _yaml(text, source)
    if not isinstance(data, dict):
        raise InvalidInput(source, "", "expected a mapping at the top level")
    return read_config(data, source)


def _yaml(text: str, source: str) -> Any:
    import yaml  # only for a YAML file: a JSON config (as runtimes write) never loads it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = f"not valid YAML: {getattr(exc, 'problem', exc)}"
        raise InvalidInput(source, where, problem) from None


def dump_config(config: MeshConfig) -> dict[str, Any]:
    """The JSON form, field for field as pydantic's `model_dump(mode="json")` of the model."""
    dumped: dict[str, Any] = _dump(config, None)
    return dumped


# --- reading -----------------------------------------------------------------------

_READERS: dict[Any, Reader] = {}


def _reader(hint: Any) -> Reader:
    """The reader of values of type `hint` (made once per type)."""
    try:
        return _READERS[hint]
    except (KeyError, TypeError):
        pass
    made = _make_reader(hint)
    with contextlib.suppress(TypeError):  # an unhashable hint is read, not remembered
        _READERS[hint] = made
    return made


def _make_reader(hint: Any) -> Reader:
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return _unit_reader(args[1])
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {hint!r}")
        member = _reader(inner[0])
        return lambda value: None if value is None else member(value)
    if origin is Literal:
        return _literal_reader(args)
    if origin is list:
        return _list_reader(_reader(args[0]))
    if origin is dict:
        return _dict_reader(_reader(args[1]))
    if dataclasses.is_dataclass(hint):
        return _DataclassReader(hint)
    simple = {int: _int, float: _float, str: _str}.get(hint)
    if simple is None:
        raise TypeError(f"unsupported field type {hint!r}")
    return simple


def _unit_reader(unit: str) -> Reader:
    parse = {"duration": parse_duration, "percentage": parse_percentage}[unit]

    def read(value: Any) -> float:
        try:
            return parse(value)
        except ValueError as exc:
            raise _Problem(str(exc)) from None

    return read


def _literal_reader(choices: tuple[Any, ...]) -> Reader:
    expected = ", ".join(repr(c) for c in choices)

    def read(value: Any) -> Any:
        if not isinstance(value, str) or value not in choices:
            raise _Problem(f"expected one of {expected}, got {value!r}")
        return value

    return read


def _list_reader(item: Reader) -> Reader:
    def read(value: Any) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise _Problem(f"expected a list, got {type(value).__name__}")
        out = []
        for index, v in enumerate(value):
            try:
                out.append(item(v))
            except _Problem as exc:
                raise exc.at(index) from None
        return out

    return read


def _dict_reader(item: Reader) -> Reader:
    def read(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Problem(f"expected a mapping, got {type(value).__name__}")
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise _Problem(f"expected text keys, got {key!r}")
            try:
                out[key] = item(v)
            except _Problem as exc:
                raise exc.at(key) from None
        return out

    return read


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise _Problem(f"expected an integer, got {value!r}")


def _float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _Problem(f"expected a number, got {value!r}")


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Problem(f"expected a string, got {value!r}")


class _Field(NamedTuple):
    name: str
    key: str
    """The name in the data (the alias: `from` for `from_`)."""
    read: Reader
    default: Callable[[], Any] | None
    """Makes the default of a field that may be left out; None: required."""
    ge: int | None
    le: int | None


class _DataclassReader:
    """A mapping -> an instance of one dataclass; its rules (`__post_init__`) checked.

    The instance is filled through its `__dict__` (a frozen dataclass's `__init__` sets
    each field through `object.__setattr__`: most of the time a big config took), then
    `__post_init__` runs as `__init__` would run it."""

    def __init__(self, cls: Any) -> None:
        self.cls = cls
        self.fields: list[_Field] = []
        self.known: frozenset[str] = frozenset()
        self.post_init: Callable[[Any], None] | None = getattr(cls, "__post_init__", None)
        self.ready = False  # made on first use: the classes refer ahead

    def _prepare(self) -> None:
        hints = get_type_hints(self.cls, include_extras=True)
        self.fields = [
            _Field(
                f.name,
                f.metadata.get("alias", f.name),
                _reader(hints[f.name]),
                _default_of(f),
                f.metadata.get("ge"),
                f.metadata.get("le"),
            )
            for f in dataclasses.fields(self.cls)
        ]
        self.known = frozenset(f.key for f in self.fields) | {f.name for f in self.fields}
        self.ready = True

    def __call__(self, value: Any) -> Any:
        if not self.ready:
            self._prepare()
        if not isinstance(value, dict):
            raise _Problem(f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if key not in self.known:
                names = ", ".join(sorted(f.key for f in self.fields))
                raise _Problem(f"unknown field; expected one of {names}").at(str(key))
        values = {}
        for name, key, read, default, ge, le in self.fields:
            raw = value.get(key, _ABSENT)
            if raw is _ABSENT and key != name:
                raw = value.get(name, _ABSENT)
            if raw is _ABSENT:
                if default is None:
                    raise _Problem("required field is missing").at(key)
                values[name] = default()
                continue
            try:
                got = read(raw)
                if got is not None and (ge is not None or le is not None):
                    _check_bounds(got, ge, le)
            except _Problem as exc:
                raise exc.at(key) from None
            values[name] = got
        made = object.__new__(self.cls)
        made.__dict__.update(values)
        if self.post_init is not None:
            try:
                self.post_init(made)
            except ValueError as exc:
                raise _Problem(str(exc)) from None
        return made


def _default_of(f: dataclasses.Field[Any]) -> Callable[[], Any] | None:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory
    if f.default is not dataclasses.MISSING:
        constant = f.default
        return lambda: constant
    return None


_ABSENT = object()


def _check_bounds(value: Any, ge: int | None, le: int | None) -> None:
    if ge is not None and value < ge:
        raise _Problem(f"Input should be greater than or equal to {ge}")
    if le is not None and value > le:
        raise _Problem(f"Input should be less than or equal to {le}")


# --- dumping -----------------------------------------------------------------------


def _dump(value: Any, hint: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        hints = get_type_hints(type(value), include_extras=True)
        return {
            f.metadata.get("alias", f.name): _dump(getattr(value, f.name), hints[f.name])
            for f in dataclasses.fields(value)
        }
    if isinstance(value, list):
        return [_dump(v, None) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v, None) for k, v in value.items()}
    if isinstance(value, float) and _is_duration(hint):
        return format_duration(value)
    return value


def _is_duration(hint: Any) -> bool:
    if get_origin(hint) in (Union, types.UnionType):
        return any(_is_duration(a) for a in get_args(hint))
    return get_origin(hint) is Annotated and get_args(hint)[1] == "duration"
