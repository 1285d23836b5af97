"""meshproof's side of the Kubernetes API: a thin client (plain-dict objects, merge patches
with resourceVersion, SelfSubjectAccessReview), the resources it names, CRD installation,
and errors translated into meshproof's exception tree (harness.kube.errors).

`harness.kube.testing` starts a real etcd + kube-apiserver on this machine for tests and
benchmarks; it is imported on its own, not from here. The public names are imported on
first use, so `harness.kube.resources` and `harness.kube.errors` (pure) do not import the
`kubernetes` package, which only the client needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.lazy import lazy_exports

if TYPE_CHECKING:
    from harness.kube.client import KubeClient
    from harness.kube.crds import default_crd_dir, install_crds
    from harness.kube.errors import (
        KubeApiError,
        KubeConflict,
        KubeForbidden,
        KubeInvalid,
        KubeNotFound,
        KubeUnauthorized,
        KubeUnreachable,
    )
    from harness.kube.resources import Resource

_HOMES = {
    "KubeApiError": "errors",
    "KubeClient": "client",
    "KubeConflict": "errors",
    "KubeForbidden": "errors",
    "KubeInvalid": "errors",
    "KubeNotFound": "errors",
    "KubeUnauthorized": "errors",
    "KubeUnreachable": "errors",
    "Resource": "resources",
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
