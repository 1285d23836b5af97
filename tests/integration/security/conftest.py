"""Fixtures of the security integration tests; process helpers come from the sidecar's."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sidecar"))

from sidecar_procs import procs

__all__ = ["procs"]
