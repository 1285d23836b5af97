"""The harness's exceptions, rooted in meshproof's one base (mesh_runtime.errors).

    MeshproofError                  (mesh_runtime.errors) anything meshproof reports to a user
    ├── InvalidInput                (mesh_runtime.errors) bad file, CLI argument or payload
    │   └── ExperimentError         an experiment file that does not validate
    ├── FaultError                  a fault could not be applied or rolled back
    ├── RunError                    an experiment could not be carried out
    └── KubeApiError                (mesh_runtime.kube.errors) the Kubernetes API refused or did
                                    not answer: 401, 403, 404, 409, 422 each a subclass

The mesh's own errors (TopologyError, ToolNotFound, DeployError, ReadinessTimeout,
ControlPlaneError, ToxiproxyError) stay in mesh_runtime.errors, which never imports the
harness; one `except MeshproofError` catches both trees. Which exit code an error means
is decided in one place, the CLI's (harness.cli.exits).
"""

from __future__ import annotations

from mesh_runtime.errors import InvalidInput, MeshproofError


class ExperimentError(InvalidInput):
    """An experiment file that does not parse or validate."""


class FaultError(MeshproofError):
    """A fault could not be applied or rolled back."""


class RunError(MeshproofError):
    """An experiment could not be carried out."""
