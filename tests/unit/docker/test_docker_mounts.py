"""The mount plan: each container sees only its own files of the work dir, never another
service's credential, and only the control plane sees the CA, its secret and its token."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_runtime.runtimes.docker.compose import WORK_DIR, compose_document
from mesh_runtime.runtimes.docker.mounts import (
    Mount,
    binds,
    container_command,
    mounts_of,
    state_file_in_container,
)
from mesh_runtime.runtimes.docker.specs import ContainerPlan, ContainerSpec, container_plan
from mesh_runtime.runtimes.plan import PlanFiles
from tests.unit.docker.dockerkit import shop_containers, shop_plan

FILES = PlanFiles(Path("/w"))


def _paths(spec: ContainerSpec) -> set[Path]:
    return {mount.path for mount in spec.mounts}


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def test_each_container_kind_gets_exactly_its_own_files() -> None:
    """Sidecar: own credential + admin token; control plane: config, token, CA, state dir;
    trace sink: spans; apps, pods and Toxiproxy: nothing."""
    cplan = shop_containers()
    assert cplan.container("catalog-1-sidecar").mounts == (
        Mount(FILES.credential("catalog-1")),
        Mount(FILES.admin_token),
    )
    assert cplan.container("control-plane").mounts == (
        Mount(FILES.mesh_config),
        Mount(FILES.control_token),
        Mount(FILES.ca_dir, writable=True, directory=True),
        Mount(Path("/w/control-plane"), writable=True, directory=True),
    )
    assert cplan.container("trace-sink").mounts == (Mount(FILES.spans, writable=True),)
    for spec in cplan.containers:
        if spec.role in ("service", "pod", "toxiproxy"):
            assert spec.mounts == (), spec.name


def test_no_container_gets_another_instances_credential() -> None:
    """The credentials a container mounts are at most its own instance's."""
    cplan = shop_containers()
    for spec in cplan.containers:
        credentials = {p for p in _paths(spec) if _within(p, FILES.credentials)}
        own = {FILES.credential(spec.name.removesuffix("-sidecar"))}
        assert credentials <= own, spec.name
        assert credentials == (own if spec.role == "sidecar" else set()), spec.name


def test_only_the_control_plane_sees_the_ca_the_bootstrap_secret_and_the_control_token() -> None:
    """No other container mounts ca/ (root key, bootstrap secret) or the control token."""
    cplan = shop_containers()
    for spec in cplan.containers:
        guarded = [
            p
            for p in _paths(spec)
            if _within(FILES.bootstrap_secret, p)
            or _within(p, FILES.ca_dir)
            or p == FILES.control_token
        ]
        assert bool(guarded) == (spec.role == "control-plane"), spec.name
        assert FILES.work_dir not in _paths(spec), f"{spec.name} mounts the whole work dir"


def test_every_work_dir_path_a_command_names_is_inside_one_of_its_mounts() -> None:
    """Whatever a containerised process is told to read or write under the work dir is
    there for it; what it writes is in a writable mount."""
    cplan = shop_containers()
    for spec in cplan.containers:
        named = [Path(a) for a in spec.command if a.startswith(f"{FILES.work_dir}/")]
        for path in named:
            holders = [m for m in spec.mounts if _within(path, m.path)]
            assert holders, f"{spec.name}: {path} is not mounted"
    state = cplan.container("control-plane")
    writable = [m.path for m in state.mounts if m.writable and m.directory]
    assert any(_within(state_file_in_container(FILES), w) for w in writable)


def test_the_control_plane_keeps_its_state_file_in_a_folder_of_its_own() -> None:
    """Its --state-file moves into control-plane/ (renamed over: a file mount cannot be);
    other commands and other arguments are unchanged."""
    plan = shop_plan()
    command = ("python", "--state-file", str(FILES.control_state), "--config", "x")
    moved = container_command("control-plane", command, FILES)
    assert moved == (
        "python",
        "--state-file",
        "/w/control-plane/control-state.json",
        "--config",
        "x",
    )
    assert container_command("sidecar", command, FILES) == command
    original = next(p for p in plan.processes if p.role == "control-plane")
    assert str(FILES.control_state) in original.command


def test_binds_are_read_only_unless_writable_at_the_same_path() -> None:
    """The Docker API's binds: same path inside, `ro` for everything not written."""
    mounts = (Mount(Path("/w/a")), Mount(Path("/w/d"), writable=True, directory=True))
    assert binds(mounts) == {
        "/w/a": {"bind": "/w/a", "mode": "ro"},
        "/w/d": {"bind": "/w/d", "mode": "rw"},
    }


def test_a_sidecar_without_its_instance_is_a_programming_error() -> None:
    """mounts_of refuses to guess whose credential a sidecar gets."""
    with pytest.raises(ValueError, match="instance"):
        mounts_of("sidecar", None, FILES)


def test_compose_services_mount_the_same_files_from_the_render_folder() -> None:
    """Each compose service's volumes are its container's mounts (read-only ones `:ro`),
    sourced from ./<topology>/; Toxiproxy gets its proxies file; none binds the folder."""
    cplan: ContainerPlan = container_plan(shop_plan(work_dir=WORK_DIR))
    services = compose_document(cplan)["services"]
    sidecar = services["cart-0-sidecar"]["volumes"]
    assert sidecar == [
        f"./shop/credentials/cart-0:{WORK_DIR}/credentials/cart-0:ro",
        f"./shop/admin-token:{WORK_DIR}/admin-token:ro",
    ]
    assert services["toxiproxy"]["volumes"] == [
        f"./shop/toxiproxy.json:{WORK_DIR}/toxiproxy.json:ro"
    ]
    assert f"./shop/ca:{WORK_DIR}/ca" in services["control-plane"]["volumes"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            assert not volume.startswith("./shop:"), name
        if name.endswith("-pod") or name in ("catalog-0", "cart-0", "gateway-0"):
            assert "volumes" not in service, name
