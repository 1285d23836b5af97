"""meshproof's side of the Kubernetes API: a thin client (plain-dict objects, merge patches
with resourceVersion, SelfSubjectAccessReview), the resources it names, CRD installation,
and errors translated into meshproof's exception tree (harness.kube.errors).

`harness.kube.testing` starts a real etcd + kube-apiserver on this machine for tests and
benchmarks; it is imported on its own, not from here.
"""

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
