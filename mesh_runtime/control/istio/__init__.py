"""Istio's API as a configuration source of the reference control plane.

`translate` turns VirtualService, DestinationRule, PeerAuthentication and
AuthorizationPolicy objects of one namespace into a MeshConfig, naming every field the
reference mesh does not implement; `istio_objects` writes a topology's policies as such
objects (its inverse). Both pure. `mesh_runtime.control.kube_source` watches the objects
in a Kubernetes API server.
"""

from mesh_runtime.control.istio.kinds import KINDS, IstioKind
from mesh_runtime.control.istio.render import Rendered, istio_objects, owner_labels
from mesh_runtime.control.istio.translate import Translation, translate

__all__ = [
    "KINDS",
    "IstioKind",
    "Rendered",
    "Translation",
    "istio_objects",
    "owner_labels",
    "translate",
]
