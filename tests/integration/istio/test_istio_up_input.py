"""`meshproof up --config-source kubernetes` refuses bad input in one line, exit 2, with
nothing deployed and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.kube.testing import LocalApiServer
from mesh_runtime.runtimes.deployment import state_file
from tests.integration.mesh.test_mesh_cli import meshproof

pytestmark = pytest.mark.integration

SHOP = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop.yaml"


def refused(root: Path, *args: str) -> str:
    done = meshproof(root, "up", str(SHOP), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert not state_file(root, "shop").exists(), "something was deployed"
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--config-source", "kubernetes"), "needs --kubeconfig"),
        (
            ("--config-source", "kubernetes", "--kubeconfig", "/nonexistent/kubeconfig"),
            "no such kubeconfig",
        ),
        (("--kubeconfig", "/nonexistent/kubeconfig"), "needs --config-source kubernetes"),
        (("--config-source", "kubernetes", "--no-mesh", "--kubeconfig", "x"), "not --no-mesh"),
    ],
)
def test_bad_flags_are_one_line(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    """Missing or contradictory flags: one line naming the problem."""
    assert says in refused(tmp_path, *args)


def test_an_unreachable_api_server_deploys_nothing(
    local_apiserver: LocalApiServer, tmp_path: Path
) -> None:
    """The kubeconfig's server does not answer: one line naming it, no process started."""
    config = yaml.safe_load(local_apiserver.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    line = refused(
        tmp_path, "--config-source", "kubernetes", "--kubeconfig", str(dead), "--namespace", "shop"
    )
    assert "127.0.0.1:1" in line and "unreachable" in line


def test_a_missing_namespace_is_one_line(local_apiserver: LocalApiServer, tmp_path: Path) -> None:
    """A namespace that does not exist: the server's 404, one line; nothing deployed."""
    kubeconfig = str(local_apiserver.kubeconfig)
    line = refused(
        tmp_path,
        "--config-source",
        "kubernetes",
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        "nowhere",
    )
    assert "404" in line and "nowhere" in line
