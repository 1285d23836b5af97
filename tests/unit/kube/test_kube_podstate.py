"""What `status --runtime kubernetes` says of each part: only what the pods' status says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from mesh_runtime.runtimes.kubernetes.podstate import (
    NO_POD,
    NOT_SCHEDULED,
    not_ready_summary,
    part_states,
    pod_state,
)


def deployment(name: str, role: str = "instance") -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"meshproof.role": role}}}


def pod(part: str, suffix: str = "abc", **status: Any) -> dict[str, Any]:
    node = status.pop("node", None)
    return {
        "metadata": {"name": f"{part}-{suffix}", "labels": {"meshproof.part": part}},
        "spec": {"nodeName": node} if node else {},
        "status": status,
    }


READY = [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}]


def test_a_deployment_without_a_pod_says_no_controller_made_one() -> None:
    (state,) = part_states([deployment("catalog-0")], [])
    assert (state.phase, state.ready, state.reason) == ("none", False, NO_POD)


def test_a_pod_no_scheduler_looked_at_is_pending_not_scheduled() -> None:
    assert pod_state(pod("catalog-0", phase="Pending")) == ("Pending", False, NOT_SCHEDULED)
    assert pod_state(pod("catalog-0")) == ("Pending", False, NOT_SCHEDULED)


def test_an_unschedulable_pod_gives_the_schedulers_reason() -> None:
    conditions = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/1 nodes are available:\n 1 node(s) had untolerated taint.",
        }
    ]
    phase, ready, reason = pod_state(pod("x", phase="Pending", conditions=conditions))
    assert (phase, ready) == ("Pending", False)
    assert reason == "Unschedulable: 0/1 nodes are available: 1 node(s) had untolerated taint."


def test_a_scheduled_pod_not_ready_names_the_waiting_container() -> None:
    waiting = {"name": "sidecar", "state": {"waiting": {"reason": "ErrImageNeverPull"}}}
    state = pod_state(pod("x", phase="Pending", node="n1", containerStatuses=[waiting]))
    assert state == ("Pending", False, "sidecar: ErrImageNeverPull")
    assert pod_state(pod("x", phase="Running", node="n1", conditions=READY)) == (
        "Running",
        True,
        "",
    )


def test_a_running_pod_not_ready_names_the_containers_whose_probe_fails() -> None:
    containers = [
        {"name": "app", "ready": True, "state": {"running": {}}},
        {"name": "sidecar", "ready": False, "state": {"running": {}}},
    ]
    state = pod_state(pod("x", phase="Running", node="n1", containerStatuses=containers))
    assert state == ("Running", False, "sidecar not ready (readiness probe failing)")


def test_a_part_is_ready_when_one_of_its_pods_is() -> None:
    pods = [
        pod("cart-0", "old", phase="Pending"),
        pod("cart-0", "new", phase="Running", node="n", conditions=READY),
    ]
    states = part_states([deployment("cart-0"), deployment("trace-sink", "trace-sink")], pods)
    assert [(s.name, s.role, s.ready) for s in states] == [
        ("cart-0", "instance", True),
        ("trace-sink", "trace-sink", False),
    ]
    assert states[0].pods == ("cart-0-new", "cart-0-old")
    assert not_ready_summary(states) == f"trace-sink: none ({NO_POD})"


def test_the_summary_of_many_parts_stays_one_line() -> None:
    states = part_states([deployment(f"s-{i}") for i in range(7)], [])
    summary = not_ready_summary(states, limit=2)
    assert summary.endswith("; and 5 more") and "\n" not in summary


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--runtime", "kubernetes"], "kubernetes needs --kubeconfig FILE"),
        (["--runtime", "kubernetes", "--kubeconfig", "/nope"], "/nope: no such kubeconfig file"),
        (["--config-source", "kubernetes", "--kubeconfig", "/nope"], "/nope: no such kubeconfig"),
        (["--no-wait"], "--no-wait: needs --runtime kubernetes"),
        (
            ["--runtime", "kubernetes", "--kubeconfig", "K", "--config-source", "kubernetes"],
            "not available with --runtime kubernetes",
        ),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(tmp_path / "k") if a == "K" else a for a in argv]
    (tmp_path / "k").write_text("apiVersion: v1\n", encoding="utf-8")
    assert main(["up", "experiments/topologies/shop.yaml", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_malformed_kubeconfig_is_one_line_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHPROOF_STATE_DIR", str(tmp_path / "state"))
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n", encoding="utf-8"
    )
    argv = ["--runtime", "kubernetes", "--kubeconfig", str(config)]
    assert main(["up", "experiments/topologies/shop.yaml", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{config}: Invalid kube-config file" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "state" / "deployments").exists() or not list(
        (tmp_path / "state" / "deployments").iterdir()
    )
