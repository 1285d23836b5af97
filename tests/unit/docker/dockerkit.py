"""Plans for the docker unit tests: the shop topology with ports counted from 20000."""

from __future__ import annotations

import itertools
from pathlib import Path

from mesh_runtime.runtimes.docker.specs import ContainerPlan, container_plan, container_tools
from mesh_runtime.runtimes.plan import Plan, make_plan
from mesh_runtime.topology import MeshMode, load_topology

REPO_ROOT = Path(__file__).resolve().parents[3]
SHOP = REPO_ROOT / "experiments" / "topologies" / "shop.yaml"


def shop_plan(mode: MeshMode = "mesh", work_dir: Path = Path("/w"), topology: Path = SHOP) -> Plan:
    ports = itertools.count(20000)
    return make_plan(
        load_topology(topology),
        topology_file=str(topology),
        mode=mode,
        allocate_port=lambda: next(ports),
        work_dir=work_dir,
        tools=container_tools("/usr/bin/prometheus"),
    )


def shop_containers(mode: MeshMode = "mesh") -> ContainerPlan:
    return container_plan(shop_plan(mode))
