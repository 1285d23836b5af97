"""A run's Locust workers as pods (`load.workers` under the kubernetes runtime with
`run --load-master-bind ADDR`): pod `load-worker-<i>` runs `python -m
harness.load.locust_main worker --master ADDR:PORT` from the load image
(`ImageBuilder.ensure_load`) and connects to the master on the orchestrator's machine over
Locust's own protocol; its records travel back the same way, so the pods mount nothing.

Bare pods that are never restarted: a worker that ended (its share done, or the master
gone) has nothing to rejoin, and a lost one is named in the run by its master. Labelled
like every part of the deployment (`down` deletes them), role `harness` (the resources
table counts the workers' CPU as the harness's)."""

from __future__ import annotations

from typing import Any

from mesh_runtime.runtimes.docker.images import stable_tag
from mesh_runtime.runtimes.docker.naming import DEPLOYMENT_LABEL, PART_LABEL, ROLE_LABEL
from mesh_runtime.runtimes.kubernetes.meta import MANAGED_BY
from mesh_runtime.runtimes.kubernetes.workloads import RUN_AS

NAME = "load-worker"
ROLE = "harness"
GRACE_S = 5
"""A worker ends on SIGTERM (still connecting: at once, nothing taken; running: its
share stopped, its records shipped); one that does not is killed this soon after its pod
is deleted."""


def load_worker_pods(
    deployment_id: str, namespace: str, master: str, count: int
) -> list[dict[str, Any]]:
    """`count` worker pods connecting to the Locust master at `master` (HOST:PORT)."""
    return [_pod(deployment_id, namespace, master, f"{NAME}-{i}") for i in range(count)]


def _pod(deployment_id: str, namespace: str, master: str, name: str) -> dict[str, Any]:
    labels = {DEPLOYMENT_LABEL: deployment_id, PART_LABEL: name, ROLE_LABEL: ROLE, **MANAGED_BY}
    container = {
        "name": NAME,
        "image": stable_tag("load"),
        "imagePullPolicy": "Never",
        "command": ["python", "-m", "harness.load.locust_main", "worker", "--master", master],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": GRACE_S,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS},
            "containers": [container],
        },
    }
