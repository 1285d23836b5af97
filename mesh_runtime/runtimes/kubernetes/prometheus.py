"""Prometheus in the cluster: it finds the sidecars itself. Pure: values in, dicts out.

The scrape config has no list of targets: Kubernetes service discovery (role `pod`, the
deployment's namespace) offers every declared container port of every pod there, and
relabelling keeps only the pods of this deployment (label `meshproof.deployment`) that ask
to be scraped (annotation `prometheus.io/scrape: "true"`), on their sidecar's port named
`admin`; the path comes from `prometheus.io/path`. The series get the labels the local
runtime's static config gives them: `instance` (the pod's `meshproof.part`), `service`
(`app`), `version`, under the job `meshproof-sidecars`. Listing pods needs a Role, bound to
Prometheus' own ServiceAccount (the only pod that gets a service-account token).

Its image is `IMAGE`, meshproof/prometheus: Prometheus at prom/prometheus' version, built
by `make setup` from its Go module with the Kubernetes discovery (a node that cannot pull
loads it like meshproof's other images; Debian's prometheus has no Kubernetes discovery).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from mesh_runtime.runtimes.docker.compose import PROMETHEUS_PORT
from mesh_runtime.runtimes.docker.naming import DEPLOYMENT_LABEL, PART_LABEL
from mesh_runtime.runtimes.prometheus import SCRAPE_INTERVAL, SCRAPE_TIMEOUT, SIDECAR_JOB

IMAGE = "meshproof/prometheus:v2.53.0"  # .ci/setup.sh PROMETHEUS_IMAGE

NAME = "prometheus"
CONFIG_KEY = "prometheus.yml"
CONFIG_DIR = "/etc/prometheus"
DATA_DIR = "/prometheus"
RBAC = "rbac.authorization.k8s.io"

Labels = Callable[..., dict[str, str]]


def sd_label(label: str) -> str:
    """The discovery meta label of a pod label: `meshproof.part` ->
    `__meta_kubernetes_pod_label_meshproof_part` (Prometheus makes every other character
    an underscore)."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)


def sd_scrape_config(namespace: str, deployment: str) -> dict[str, Any]:
    """The Prometheus config: the deployment's sidecars found by Kubernetes discovery."""
    annotation = "__meta_kubernetes_pod_annotation_prometheus_io_"
    relabel = [
        {"source_labels": [sd_label(DEPLOYMENT_LABEL)], "regex": deployment, "action": "keep"},
        {"source_labels": [annotation + "scrape"], "regex": "true", "action": "keep"},
        {
            "source_labels": ["__meta_kubernetes_pod_container_port_name"],
            "regex": "admin",
            "action": "keep",
        },
        {
            "source_labels": [annotation + "path"],
            "regex": "(.+)",
            "target_label": "__metrics_path__",
        },
        {"source_labels": [sd_label(PART_LABEL)], "target_label": "instance"},
        {"source_labels": [sd_label("app")], "target_label": "service"},
        {"source_labels": [sd_label("version")], "target_label": "version"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
    ]
    job = {
        "job_name": SIDECAR_JOB,
        "metrics_path": "/metrics",
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]}}],
        "relabel_configs": relabel,
    }
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_TIMEOUT},
        "scrape_configs": [job],
    }


def prometheus_objects(labels: Labels, namespace: str, deployment: str) -> list[dict[str, Any]]:
    """ServiceAccount, Role (get/list/watch pods), RoleBinding, ConfigMap, Service and
    Deployment of the deployment's Prometheus."""
    own = labels(NAME, NAME)

    def meta(kind: str, api_version: str = "v1") -> dict[str, Any]:
        return {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": NAME, "namespace": namespace, "labels": dict(own)},
        }

    account = meta("ServiceAccount")
    role = meta("Role", f"{RBAC}/v1")
    role["rules"] = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    binding = meta("RoleBinding", f"{RBAC}/v1")
    binding["roleRef"] = {"apiGroup": RBAC, "kind": "Role", "name": NAME}
    binding["subjects"] = [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}]
    config = meta("ConfigMap")
    text = yaml.safe_dump(sd_scrape_config(namespace, deployment), sort_keys=False)
    config["data"] = {CONFIG_KEY: text}
    service = meta("Service")
    service["spec"] = {
        "selector": {DEPLOYMENT_LABEL: deployment, PART_LABEL: NAME},
        "ports": [{"name": "http", "port": PROMETHEUS_PORT, "targetPort": PROMETHEUS_PORT}],
    }
    return [account, role, binding, config, service, _deployment(meta, own, deployment)]


def _deployment(
    meta: Callable[..., dict[str, Any]], own: dict[str, str], deployment: str
) -> dict[str, Any]:
    container = {
        "name": NAME,
        "image": IMAGE,
        "imagePullPolicy": "Never",
        "args": [
            f"--config.file={CONFIG_DIR}/{CONFIG_KEY}",
            f"--storage.tsdb.path={DATA_DIR}",
            f"--web.listen-address=0.0.0.0:{PROMETHEUS_PORT}",
            "--storage.tsdb.retention.time=1d",
            "--web.enable-lifecycle",
        ],
        "ports": [{"name": "http", "containerPort": PROMETHEUS_PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/-/ready", "port": PROMETHEUS_PORT},
            "periodSeconds": 2,
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "data", "mountPath": DATA_DIR},
        ],
    }
    out = meta("Deployment", "apps/v1")
    out["spec"] = {
        "replicas": 1,
        "selector": {"matchLabels": {DEPLOYMENT_LABEL: deployment, PART_LABEL: NAME}},
        "template": {
            "metadata": {"labels": dict(own)},
            "spec": {
                "serviceAccountName": NAME,
                "containers": [container],
                "volumes": [
                    {"name": "config", "configMap": {"name": NAME}},
                    {"name": "data", "emptyDir": {}},
                ],
            },
        },
    }
    return out
