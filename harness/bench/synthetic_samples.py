"""The fixture run's samples: what the resource sampler, the host probe and Prometheus
would have recorded once a second along the run's `Timeline`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from harness.bench.synthetic_traffic import Timeline
from mesh_runtime.topology import Topology


def synthetic_resources(
    rng: np.random.Generator, topology: Topology, line: Timeline
) -> pd.DataFrame:
    """psutil-style samples of every sidecar and service, once a second."""
    rows = []
    for t in np.arange(0.5, line.end, 1.0):
        busy = 1.4 if line.fault_start <= t < line.fault_end else 1.0
        for pid, instance in enumerate(topology.instances(), start=1000):
            for role, cores, rss in (("sidecar", 0.012, 48.0), ("service", 0.008, 36.0)):
                rows.append(
                    {
                        "t_s": float(t),
                        "role": role,
                        "name": instance.name,
                        "pid": pid if role == "sidecar" else pid + 100,
                        "cpu_s": float(t * cores),
                        "cpu_cores": cores * busy * rng.uniform(0.9, 1.1),
                        "rss_mb": rss + rng.uniform(0, 2),
                    }
                )
    return pd.DataFrame(rows)


def synthetic_probe(rng: np.random.Generator, line: Timeline) -> pd.DataFrame:
    """The disturbance probe's rows: a quiet host, a little busier while the fault lasts."""
    rows = []
    for second in range(int(line.end)):
        busier = line.fault_start <= second < line.fault_end
        rows.append(
            {
                "second": second,
                "wakeups": 200,
                "sched_lag_p50_ms": 0.1,
                "sched_lag_p99_ms": float(rng.uniform(0.3, 0.6 if busier else 0.4)),
                "sched_lag_max_ms": float(rng.uniform(0.6, 2.0)),
                "steal_share": 0.0,
                "iowait_share": 0.001,
                "busy_cores": 0.9 if busier else 0.7,
                "load1": 1.2 if busier else 0.8,
                "harness_cores": 0.2,
                "probe_cpu_cores": 0.009,
            }
        )
    return pd.DataFrame(rows)


def proxied_series(topology: Topology, rps: float) -> list[tuple[dict[str, str], float]]:
    """istio_requests_total series (labels, requests per second) of every sidecar.

    Each sidecar counts each request it proxies once: the ingress's inbound side
    (reporter="destination"), and per call edge the caller's outbound side
    (reporter="source") and the callee's inbound side; a service's replicas share its load.
    """
    sides = [("destination", topology.ingress, topology.ingress)]
    for edge in topology.edges():
        sides.append(("source", edge.source, edge.destination))
        sides.append(("destination", edge.destination, edge.destination))
    series = []
    for reporter, service, destination in sides:
        names = [i.name for i in topology.instances() if i.service == service]
        for name in names:
            labels = {"reporter": reporter, "instance": name, "destination_service": destination}
            series.append((labels, rps / len(names)))
    return series


def synthetic_metrics(line: Timeline, topology: Topology, rps: float) -> pd.DataFrame:
    """Raw counter samples as a Prometheus range query returns them (1 s step)."""
    rows = []
    retries = ejections = 0.0
    proxied = proxied_series(topology, rps)
    for t in np.arange(1.0, line.end + 1, 1.0):
        if line.fault_start <= t < line.fault_end:
            retries += 15
        if t in (line.fault_start + 1, line.fault_start + 6):
            ejections += 1
        samples = [("istio_requests_total", labels, t * rate) for labels, rate in proxied]
        samples += [
            ("meshproof_config_version", {"instance": "gateway-0"}, 1.0),
            ("meshproof_retries_total", {"destination_service": "catalog"}, retries),
        ]
        if ejections:
            labels = {"destination_service": "catalog", "instance": "catalog-0"}
            samples.append(("meshproof_outlier_ejections_total", labels, ejections))
        for metric, labels, value in samples:
            rows.append(
                {
                    "t_s": float(t),
                    "metric": metric,
                    "labels": json.dumps(labels),
                    "value": float(value),
                }
            )
    return pd.DataFrame(rows)
