"""What a translation could not carry out, said by name: fields the reference mesh does
not implement, and objects (or parts) it could not use, with why."""

from __future__ import annotations

from mesh_runtime.control.istio.fields import Fields


class Report:
    """Collects the lines of one translation; each line starts with the object it is about."""

    def __init__(self) -> None:
        self.unimplemented: list[str] = []
        self.problems: list[str] = []

    def unread(self, label: str, fields: Fields, note: str = "") -> None:
        """Every field of `fields` nothing read: not implemented by the reference mesh."""
        suffix = f" ({note})" if note else ""
        paths = fields.take_unread() if note else fields.unread()
        self.unimplemented.extend(f"{label}: {path}{suffix}" for path in paths)

    def field(self, label: str, path: str, what: str) -> None:
        """A field that was read but holds a value the reference mesh does not implement."""
        self.unimplemented.append(f"{label}: {path}: {what}")

    def problem(self, label: str, text: str) -> None:
        """An object, or a part of one, that could not be used."""
        self.problems.append(f"{label}: {text}")
