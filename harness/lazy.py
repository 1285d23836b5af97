"""Public names of a package imported on first use (PEP 562), one helper for every package
that needs it: `harness.load` (Locust must monkey-patch before `ssl` is imported),
`harness.observe` (the probe process stays light), `harness.kube` (only the client needs
the `kubernetes` package).

    __getattr__ = lazy_exports(__name__, {"LoadDriver": "driver", ...})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `package.<homes[name]>` when `name` is first used
    (a home with a dot is a whole module path: a name re-exported from elsewhere)."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = home if "." in home else f"{package}.{home}"
        return getattr(importlib.import_module(module), name)

    return __getattr__
