"""meshproof's one exception tree.

    MeshproofError                  anything meshproof reports to a user
    ├── InvalidInput                bad file, CLI argument or API payload (exit code 2)
    │   ├── TopologyError           a topology file that does not validate
    │   └── ExperimentError         an experiment file that does not validate (harness)
    ├── ToolNotFound                a binary `make setup` should have installed is missing
    ├── DeployError                 a runtime could not bring the mesh up
    │   └── ReadinessTimeout        a part did not become ready in time
    ├── ControlPlaneError           the control plane refused or could not be reached
    ├── FaultError                  a fault could not be applied or rolled back
    ├── RunError                    an experiment could not be carried out (exit code 2)
    └── KubeApiError                the Kubernetes API refused or did not answer: 401, 403,
                                    404, 409, 422 each a subclass (harness.kube.errors)

Lower-level errors (OSError, pydantic.ValidationError, requests exceptions, docker
errors) are translated where they enter, `raise DeployError(...) from exc`.
"""

from __future__ import annotations


class MeshproofError(Exception):
    """Base of every error meshproof reports to a user; `str(exc)` is the message."""

    exit_code = 2


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


class ExperimentError(InvalidInput):
    """An experiment file that does not parse or validate."""


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


class FaultError(MeshproofError):
    """A fault could not be applied or rolled back."""


class RunError(MeshproofError):
    """An experiment could not be carried out."""
