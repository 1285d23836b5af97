"""The harness's side of the Kubernetes API: CRD installation, fault snapshots, patches and
policy publishing, over the one client `mesh_runtime.kube` holds (with its resources and
errors, re-exported here).

`harness.kube.testing` starts a real etcd + kube-apiserver on this machine for tests and
benchmarks; it is imported on its own, not from here. The public names are imported on
first use, so the pure modules do not import the `kubernetes` package, which only the
client needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.lazy import lazy_exports

if TYPE_CHECKING:
    from harness.kube.crds import default_crd_dir, install_crds
    from mesh_runtime.kube.client import KubeClient
    from mesh_runtime.kube.errors import (
        KubeApiError,
        KubeConflict,
        KubeForbidden,
        KubeInvalid,
        KubeNotFound,
        KubeUnauthorized,
        KubeUnreachable,
    )
    from mesh_runtime.kube.resources import Resource

_HOMES = {
    "KubeApiError": "mesh_runtime.kube.errors",
    "KubeClient": "mesh_runtime.kube.client",
    "KubeConflict": "mesh_runtime.kube.errors",
    "KubeForbidden": "mesh_runtime.kube.errors",
    "KubeInvalid": "mesh_runtime.kube.errors",
    "KubeNotFound": "mesh_runtime.kube.errors",
    "KubeUnauthorized": "mesh_runtime.kube.errors",
    "KubeUnreachable": "mesh_runtime.kube.errors",
    "Resource": "mesh_runtime.kube.resources",
    "default_crd_dir": "crds",
    "install_crds": "crds",
}


__getattr__ = lazy_exports(__name__, _HOMES)


__all__ = [
    "KubeApiError",
    "KubeClient",
    "KubeConflict",
    "KubeForbidden",
    "KubeInvalid",
    "KubeNotFound",
    "KubeUnauthorized",
    "KubeUnreachable",
    "Resource",
    "default_crd_dir",
    "install_crds",
]
