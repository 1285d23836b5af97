"""The programs a single-node cluster runs, found on this machine (`make setup` installs
them): the API server's, the other Kubernetes programs, CoreDNS, kube-router, and Debian's
containerd, ctr and CNI plugins."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.kube.testing import ApiServerBinaries
from mesh_runtime.errors import ToolNotFound
from mesh_runtime.tools import find_binary

CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins


@dataclass(frozen=True)
class NodeBinaries:
    api: ApiServerBinaries
    controller_manager: Path
    scheduler: Path
    kubelet: Path
    kube_proxy: Path
    coredns: Path
    kube_router: Path
    containerd: Path
    ctr: Path

    @classmethod
    def find(cls) -> NodeBinaries:
        """Every program of the node; ToolNotFound names the first one missing."""
        for plugin in ("bridge", "host-local", "loopback"):
            if not (CNI_BIN_DIR / plugin).exists():
                raise ToolNotFound(
                    f"CNI plugin {CNI_BIN_DIR / plugin}",
                    "install Debian's containernetworking-plugins (make setup)",
                )
        return cls(
            api=ApiServerBinaries.find(),
            controller_manager=find_binary("kube-controller-manager"),
            scheduler=find_binary("kube-scheduler"),
            kubelet=find_binary("kubelet"),
            kube_proxy=find_binary("kube-proxy"),
            coredns=find_binary("coredns"),
            kube_router=find_binary("kube-router"),
            containerd=system_binary("containerd"),
            ctr=system_binary("ctr"),
        )


def system_binary(name: str) -> Path:
    found = shutil.which(name)
    if found is None:
        raise ToolNotFound(name, "install Debian's containerd (make setup)")
    return Path(found)
