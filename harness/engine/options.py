"""How to carry out a run (`meshproof run`'s flags): `RunOptions`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mesh_runtime.runtimes.deployment import KubernetesPlacement


@dataclass(frozen=True)
class RunOptions:
    runtime: str | None = None
    """Overrides the experiment's `target.runtime`."""
    kubernetes: KubernetesPlacement | None = None
    """`--runtime kubernetes`: the cluster and namespace (`--kubeconfig`, `--namespace`)."""
    out_dir: Path = Path("reports")
    duration_s: float | None = None
    """Scale the whole timeline to this length (warm-up included)."""
    keep: bool = False
    state_root: Path | None = None
    sidecar_command: tuple[str, ...] | None = None
    """Run this sidecar program instead of the checkout's (upgrade validation)."""
    sidecar_version: str | None = None
    """What run.json's `environment.sidecar_version` records for that program."""
    target: Path | None = None
    """A target file (an external mesh) to run against instead of the experiment's target
    (`meshproof run --target FILE`)."""
    otlp_forward: str | None = None
    """Also send every span of the run to this OTLP/HTTP URL (`run --otlp-forward URL`);
    overrides an external target's `traces.forward`."""
    load_master_bind: str = "127.0.0.1"
    """Where the Locust master listens (`run --load-master-bind`): workers of other machines
    (`meshproof load-worker --master`) connect there."""
    load_master_port: int = 0
    """Its port (0: one the OS picks, for a master only this machine's workers reach)."""
    load_local_workers: int | None = None
    """Workers started on this machine (None: all when the master listens on loopback,
    else none; `run --load-local-workers`)."""
