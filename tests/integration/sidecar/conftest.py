"""Fixtures of the sidecar's integration tests (helpers live in sidecar_procs and sidecar_mesh)."""

from __future__ import annotations

from sidecar_procs import procs

__all__ = ["procs"]
