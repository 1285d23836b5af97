"""Reading an input file (an experiment, a topology, a config) as text, with one clear
error for a missing or unreadable one. No pydantic, no yaml: the sidecar uses it too."""

from __future__ import annotations

from pathlib import Path

from mesh_runtime.errors import InvalidInput


def read_input_text(path: str | Path, error: type[InvalidInput] = InvalidInput) -> str:
    """The UTF-8 text of `path`; a missing, unreadable or binary file is one `error` naming it."""
    source = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(source, "", "no such file") from None
    except OSError as exc:
        raise error(source, "", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        problem = f"not UTF-8 text (byte 0x{byte:02x} at offset {exc.start}); a binary file?"
        raise error(source, "", problem) from None
