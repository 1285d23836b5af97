"""How a phase's CPU splits between the sidecars, the apps, the harness and the rest.

From the resources table (`t_s, role, name, pid, cpu_s, cpu_cores, rss_mb`): each
process's mean `cpu_cores` over the phase, summed by group. Groups by role: `sidecar` ->
sidecars, `service` -> apps, `harness` (the orchestrator and the Locust processes) ->
harness, every other role (control plane, trace sink, Toxiproxy, Prometheus) -> mesh_other.
Divided by the phase's achieved rate, the cores are CPU milliseconds per user request.
A group with no process sampled is left out (the docker runtime samples no harness).
"""

from __future__ import annotations

import pandas as pd

from harness.store.model import CpuSplit, PhaseRecord

GROUPS = {"sidecar": "sidecars", "service": "apps", "harness": "harness"}
OTHER = "mesh_other"
ORDER = ("sidecars", "apps", "harness", OTHER)


def group_of(role: str) -> str:
    return GROUPS.get(role, OTHER)


def cpu_split(
    resources: pd.DataFrame | None, phase: PhaseRecord, rps: float | None
) -> CpuSplit | None:
    """The phase's split (None without resource samples in it); `rps`: its achieved rate."""
    if resources is None or resources.empty:
        return None
    t = resources["t_s"]
    rows = resources[(t >= phase.start_s) & (t < phase.end_s)].dropna(subset=["cpu_cores"])
    if rows.empty:
        return None
    per_process = rows.groupby(["role", "name"])["cpu_cores"].mean()
    summed: dict[str, float] = {}
    for (role, _), value in per_process.items():
        group = group_of(str(role))
        summed[group] = summed.get(group, 0.0) + float(value)
    cores = {group: summed[group] for group in ORDER if group in summed}
    per_request = {g: c * 1000 / rps for g, c in cores.items()} if rps else None
    return CpuSplit(phase=phase.name, rps=rps, cores=cores, ms_per_request=per_request)


MESH_GROUPS = ("sidecars", "apps", OTHER)
"""The groups of the mesh's own processes: none is sampled on an external target."""


def describe(split: CpuSplit, external: bool = False) -> str:
    """One line: cores (and ms of CPU per request) of each group. `external`: the mesh is
    one meshproof did not deploy, whose processes it does not sample, so its groups read
    no data (never 0.00; the harness's own trace receiver is not the mesh's CPU)."""
    shown = {g: v for g, v in split.cores.items() if not (external and g in MESH_GROUPS)}
    parts = []
    for group, value in shown.items():
        per = split.ms_per_request
        parts.append(f"{group} {value:.2f}" + (f" ({per[group]:.2f} ms/req)" if per else ""))
    rate = f" at {split.rps:.0f} rps" if split.rps else ""
    if external:
        unsampled = "an external target's processes are not sampled"
        return f"CPU cores{rate}: " + ", ".join(
            [*parts, f"{', '.join(MESH_GROUPS)} no data ({unsampled})"]
        )
    return f"CPU cores{rate}: " + ", ".join(parts) + f"; total {sum(shown.values()):.2f}"
