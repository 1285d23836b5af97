"""Reading an Istio object's spec field by field, so that what was never read is known.

The translation reads every field it implements through `Fields`; afterwards `unread()`
names each field present in the object that nothing read. Those are the fields the
reference mesh does not implement, reported by name instead of being dropped silently.
Pure: plain dicts in, strings out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Fields:
    """One JSON object of a spec, at `path` (`spec.http[0]`), with the keys read so far."""

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self._data = data
        self.path = path
        self._read: dict[str, list[Fields]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def names(self) -> list[str]:
        """The keys present, in document order."""
        return list(self._data)

    def at(self, key: str) -> str:
        """The path of `key` in this object: `spec.http[0].fault`."""
        return f"{self.path}.{key}" if self.path else key

    def value(self, key: str, default: Any = None) -> Any:
        """The value of `key` (any JSON), read whole."""
        self._read.setdefault(key, [])
        return self._data.get(key, default)

    def obj(self, key: str) -> Fields | None:
        """The object under `key`, to be read field by field; None when absent or not one."""
        child = self._data.get(key)
        if not isinstance(child, Mapping):
            return None
        fields = Fields(child, self.at(key))
        self._read[key] = [fields]
        return fields

    def objs(self, key: str) -> list[Fields]:
        """The objects of the list under `key`, each read field by field."""
        items = self._data.get(key)
        if not isinstance(items, list):
            return []
        out = [
            Fields(item, f"{self.at(key)}[{i}]") for i, item in enumerate(items) if _is_obj(item)
        ]
        self._read[key] = out
        return out

    def take_unread(self) -> list[str]:
        """`unread()`, then everything counts as read (the caller reports it its own way)."""
        paths = self.unread()
        self._read_all()
        return paths

    def _read_all(self) -> None:
        for key in self._data:
            for child in self._read.setdefault(key, []):
                child._read_all()

    def unread(self) -> list[str]:
        """The paths of every field present that nothing read, in document order."""
        out: list[str] = []
        for key in self._data:
            if key not in self._read:
                out.append(self.at(key))
                continue
            for child in self._read[key]:
                out.extend(child.unread())
        return out


def _is_obj(item: Any) -> bool:
    return isinstance(item, Mapping)
