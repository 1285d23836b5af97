"""The mesh's exceptions, and the one base every meshproof error shares.

    MeshproofError                  anything meshproof reports to a user
    ├── InvalidInput                bad file, CLI argument or API payload
    │   ├── TopologyError           a topology file that does not validate
    │   └── TargetError             a target file (an external mesh) that does not validate
    ├── ToolNotFound                a binary `make setup` should have installed is missing
    ├── DeployError                 a runtime could not bring the mesh up
    │   └── ReadinessTimeout        a part did not become ready in time
    ├── ControlPlaneError           the control plane refused or could not be reached
    └── ToxiproxyError              the Toxiproxy server refused or failed a toxic or an
                                    enable / disable of a proxy

The harness's own errors (ExperimentError, FaultError, RunError, KubeApiError) are in
harness.errors, rooted in MeshproofError here; this package never imports the harness.

Lower-level errors (OSError, pydantic.ValidationError, requests exceptions, docker
errors) are translated where they enter, `raise DeployError(...) from exc`.
"""

from __future__ import annotations


class MeshproofError(Exception):
    """Base of every error meshproof reports to a user; `str(exc)` is the message."""


class InvalidInput(MeshproofError):
    """Bad input from a user: a file, a CLI argument, an API payload."""

    def __init__(self, source: str, path: str, problem: str) -> None:
        self.source = source
        self.path = path
        self.problem = problem
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {problem}")


class TopologyError(InvalidInput):
    """A topology file that does not parse or validate."""


class TargetError(InvalidInput):
    """A target file (a mesh meshproof did not deploy) that does not parse or validate."""


class ToolNotFound(MeshproofError):
    """A binary that `make setup` installs could not be found."""

    def __init__(self, tool: str, hint: str) -> None:
        self.tool = tool
        self.hint = hint
        super().__init__(f"{tool} not found: {hint}")


class DeployError(MeshproofError):
    """A runtime could not bring a part of the mesh up, or down."""


class ReadinessTimeout(DeployError):
    """A deployed part did not report ready within its deadline."""


class ControlPlaneError(MeshproofError):
    """The control plane refused a change or could not be reached."""


class ToxiproxyError(MeshproofError):
    """The Toxiproxy server refused or failed a toxic, or enabling / disabling a proxy."""
