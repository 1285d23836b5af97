"""Soak: the shop under steady load for an hour; does anything grow?

    python -m harness.bench.soak [--duration 1h] [--rps 200] [--every 10m]
                                 [--topology experiments/topologies/shop.yaml]
                                 [--cert-lifetime 1h]
    make soak                    (the hour; a benchmark, never run by CI)

The topology goes up on the local runtime and one Locust worker sends `--rps` requests a
second to its ingress for `--duration` (open loop, records streamed as in any run). At
the start of the load and every `--every` after it, then at its end, each sidecar's RSS
and open file descriptors are read (psutil), and so is the harness' memory: this process
plus the load driver's processes. The table shows one row per sample, with the RSS and
fds of the sidecar that grew most; the verdict is on the largest growth of one sidecar's
RSS from the first sample to the last: at most 2 MB over the hour (the same 2 MB bound
over a shorter `--duration`, which makes it a weaker check). A line beside it gives the
growth from the second sample on (the pools' first connections are made by then: what
grows after it is not warm-up), and a sidecar that is gone before the last sample fails
the verdict (its growth cannot be judged). A short run (`--duration 3m --every 1m`)
checks that the soak works.

Each sample also reads every sidecar's certificate renewals (admin `/stats`), and the
table's `renewals` column counts those since the sample before, so a row that follows a
renewal shows it. `--cert-lifetime` gives the control plane's CA a shorter leaf lifetime
than its 1 h (a sidecar renews at about half of it): `--cert-lifetime 4m --duration 10m
--every 1m` shows several renewals in ten minutes. A line per sidecar follows the
verdict: its growth, fds first and last, renewals. The `upstream conns` column is the
sidecars' pooled connections to the services they call (admin `/stats` `upstreams`) at
each sample: when the fds jump, it tells the sidecars' own pools growing (answers were
slow) from connections made to them (their callers' pools, the load's).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psutil

from harness.bench.curves import CurveColumn, curve_lines, target_line
from harness.bench.procs import unwind_on_sigterm
from mesh_runtime.errors import InvalidInput, MeshproofError
from mesh_runtime.units import parse_duration

TOPOLOGY = Path(__file__).resolve().parents[2] / "experiments" / "topologies" / "shop.yaml"
GROWTH_LIMIT_MB = 2.0
HELD_FAILURES = 0.01
"""Above this share of failed requests the shop did not hold the rate."""
COLUMNS = (
    CurveColumn("minute", "minute", "{:.1f}"),
    CurveColumn("sidecar_rss_mb", "sidecars RSS MB", "{:.1f}"),
    CurveColumn("largest_growth_mb", "largest sidecar growth MB", "{:+.2f}"),
    CurveColumn("open_fds", "sidecar fds", "{:d}"),
    CurveColumn("upstream_conns", "upstream conns", "{:d}"),
    CurveColumn("renewals", "renewals", "{:d}"),
    CurveColumn("harness_rss_mb", "harness RSS MB", "{:.1f}"),
    CurveColumn("sent", "requests sent", "{:,}"),
    CurveColumn("failed", "failed", "{:,}"),
    CurveColumn("load_average_1m", "load 1m", "{:.2f}"),
)


@dataclass(frozen=True)
class Sample:
    """One reading: seconds since the load began, each sidecar's RSS (MB) and open fds,
    the harness' RSS (MB), and the driver's running counts."""

    at_s: float
    sidecar_rss_mb: dict[str, float]
    sidecar_fds: dict[str, int]
    harness_rss_mb: float
    sent: int = 0
    failed: int = 0
    load_average_1m: float = 0.0
    renewals: dict[str, int] = field(default_factory=dict)
    """Each sidecar's certificate renewals so far (its admin /stats; absent: unread)."""
    upstream_conns: dict[str, int] = field(default_factory=dict)
    """Each sidecar's open connections to its upstreams (admin /stats; absent: unread)."""


def growth_mb(samples: Sequence[Sample]) -> dict[str, float]:
    """Each sidecar's RSS growth (MB) from the first sample to the last (sidecars present
    in both)."""
    if len(samples) < 2:
        return {}
    first, last = samples[0].sidecar_rss_mb, samples[-1].sidecar_rss_mb
    return {name: last[name] - first[name] for name in sorted(first) if name in last}


def sample_rows(samples: Sequence[Sample], busiest: str | None = None) -> list[dict[str, Any]]:
    """The table's rows: one per sample, the largest growth since the first sample, and
    the RSS and fds of the sidecar `busiest` (when given)."""
    rows = []
    for index, sample in enumerate(samples):
        grown = growth_mb([samples[0], sample]) if index else {}
        renewed = renewals_between(samples[index - 1], sample) if index else 0
        rows.append(
            {
                "minute": sample.at_s / 60.0,
                "sidecar_rss_mb": sum(sample.sidecar_rss_mb.values()),
                "largest_growth_mb": max(grown.values(), default=0.0),
                "busiest_rss_mb": sample.sidecar_rss_mb.get(busiest or ""),
                "busiest_fds": sample.sidecar_fds.get(busiest or ""),
                "open_fds": sum(sample.sidecar_fds.values()),
                "upstream_conns": sum(sample.upstream_conns.values()),
                "renewals": renewed,
                "harness_rss_mb": sample.harness_rss_mb,
                "sent": sample.sent,
                "failed": sample.failed,
                "load_average_1m": sample.load_average_1m,
            }
        )
    return rows


def renewals_between(before: Sample, after: Sample) -> int:
    """Certificate renewals of every sidecar read in both samples, from one to the other."""
    return sum(
        after.renewals[name] - before.renewals[name]
        for name in after.renewals
        if name in before.renewals
    )


def sidecar_lines(samples: Sequence[Sample]) -> list[str]:
    """A line per sidecar in the first and last samples: RSS growth, fds first -> last,
    certificate renewals over the span, upstream connections first -> last."""
    if len(samples) < 2:
        return []
    first, last = samples[0], samples[-1]
    lines = []
    for name, grown in growth_mb(samples).items():
        fds = f"{first.sidecar_fds.get(name, 0)} -> {last.sidecar_fds.get(name, 0)}"
        renewed = (
            f"{last.renewals[name] - first.renewals[name]} renewals"
            if name in first.renewals and name in last.renewals
            else "renewals not read"
        )
        pooled = ""
        if name in first.upstream_conns and name in last.upstream_conns:
            pooled = f", upstream conns {first.upstream_conns[name]} -> {last.upstream_conns[name]}"
        lines.append(f"  {name}: {grown:+.2f} MB, fds {fds}, {renewed}{pooled}")
    return lines


def soak_lines(samples: Sequence[Sample], rps: float) -> list[str]:
    """The table, then the verdict on the largest sidecar growth, the growth after the
    first interval, any sidecar gone, and what the fds and the harness did over the
    same span."""
    span = samples[-1].at_s - samples[0].at_s if samples else 0.0
    title = f"soak: the shop at {rps:g} RPS for {minutes(span)}"
    grown = growth_mb(samples)
    name = max(grown, key=lambda n: grown[n]) if grown else None
    lines = curve_lines(title, columns_for(name), sample_rows(samples, name))
    if name is None:
        return [*lines, "soak: fewer than two samples, no verdict"]
    what = f"largest sidecar RSS growth ({name}) over {minutes(span)}"
    lines.append(target_line(what, grown[name], GROWTH_LIMIT_MB, "MB"))
    later = growth_mb(samples[1:])
    if len(samples) > 2 and later:
        late = max(later, key=lambda n: later[n])
        lines.append(
            f"after the first sample ({minutes(samples[1].at_s)} in): largest growth"
            f" {later[late]:+.1f} MB ({late})"
        )
    gone = missing_sidecars(samples)
    if gone:
        lines.append(f"gone before the last sample, not judged: {', '.join(gone)}: missed")
    fds = sum(samples[-1].sidecar_fds.values()) - sum(samples[0].sidecar_fds.values())
    harness = samples[-1].harness_rss_mb - samples[0].harness_rss_mb
    lines.append(f"sidecar open fds {fds:+d}, harness RSS {harness:+.1f} MB over the same span")
    last = samples[-1]
    if last.sent and last.failed / last.sent > HELD_FAILURES:
        lines.append(
            f"the shop did not hold {rps:g} RPS ({last.failed / last.sent:.1%} of requests"
            " failed): the growth is its backlog as much as any leak"
        )
    return lines


def columns_for(busiest: str | None) -> tuple[CurveColumn, ...]:
    """The table's columns, with the RSS and fds of `busiest` after the totals."""
    if busiest is None:
        return COLUMNS
    own = (
        CurveColumn("busiest_rss_mb", f"{busiest} RSS MB", "{:.1f}"),
        CurveColumn("busiest_fds", f"{busiest} fds", "{:d}"),
    )
    return (*COLUMNS[:3], *own, *COLUMNS[3:])


def missing_sidecars(samples: Sequence[Sample]) -> list[str]:
    """Sidecars of the first sample that the last one could not read (exited)."""
    if len(samples) < 2:
        return []
    return sorted(set(samples[0].sidecar_rss_mb) - set(samples[-1].sidecar_rss_mb))


def passed(samples: Sequence[Sample]) -> bool:
    """The verdict: every sidecar still there, none grown more than the limit."""
    grown = growth_mb(samples)
    return bool(grown) and max(grown.values()) <= GROWTH_LIMIT_MB and not missing_sidecars(samples)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def read_sample(
    at_s: float,
    sidecars: dict[str, int],
    harness_pids: Sequence[int],
    live: Any,
    admin: Callable[[], AdminCounts] = lambda: AdminCounts({}, {}),
) -> Sample:
    """Read every process now (`sidecars`: instance -> pid; a process that is gone is
    left out) and, by `admin`, each sidecar's renewals and upstream connections."""
    rss: dict[str, float] = {}
    fds: dict[str, int] = {}
    for name, pid in sidecars.items():
        try:
            process = psutil.Process(pid)
            rss[name] = process.memory_info().rss / 2**20
            fds[name] = process.num_fds()
        except psutil.Error:
            continue
    harness = 0.0
    for pid in harness_pids:
        try:
            harness += psutil.Process(pid).memory_info().rss / 2**20
        except psutil.Error:
            continue
    load = os.getloadavg()[0]
    counts = admin()
    return Sample(
        at_s,
        rss,
        fds,
        harness,
        int(live.sent),
        int(live.failed),
        load,
        counts.renewals,
        counts.upstream_conns,
    )


@dataclass(frozen=True)
class AdminCounts:
    """What the sidecars' admin /stats said: renewals and upstream connections, each
    by sidecar (a sidecar left out when unread)."""

    renewals: dict[str, int]
    upstream_conns: dict[str, int]


def read_admin(admin_urls: dict[str, str], headers: dict[str, str]) -> AdminCounts:
    """Each sidecar's `security.renewals` and pooled upstream connections, from its
    admin /stats."""
    from mesh_runtime.runtimes.admin import admin_json

    counts = AdminCounts({}, {})
    for name, url in admin_urls.items():
        stats = admin_json(f"{url}/stats", headers)
        if stats is None:
            continue
        security = stats.get("security")
        if isinstance(security, dict) and isinstance(security.get("renewals"), int):
            counts.renewals[name] = security["renewals"]
        pooled = upstream_connections(stats)
        if pooled is not None:
            counts.upstream_conns[name] = pooled
    return counts


def upstream_connections(stats: Mapping[str, Any]) -> int | None:
    """The open connections of every upstream pool in a sidecar's /stats (None when it
    has no `upstreams`)."""
    upstreams = stats.get("upstreams")
    if not isinstance(upstreams, dict):
        return None
    total = 0
    for service in upstreams.values():
        endpoints = service.get("endpoints") if isinstance(service, dict) else None
        for endpoint in (endpoints or {}).values():
            opened = endpoint.get("open_connections") if isinstance(endpoint, dict) else None
            total += opened if isinstance(opened, int) else 0
    return total


class _Loading(Protocol):
    """What the sampling needs of the load driver (`harness.load.LoadDriver`)."""

    @property
    def t0(self) -> float: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def sample_while_loaded(
    driver: _Loading, duration_s: float, every_s: float, take: Callable[[float], Sample]
) -> list[Sample]:
    """`take` at the load's start, every `every_s` while its schedule runs, and once every
    answer is in (or the driver's hard deadline passed).

    Time is the driver's own: seconds of the wall clock since its t0. The driver waits on
    the wall clock (its workers may be other machines); a clock of this process's own
    drifts from it (a suspended host stops the monotonic clock, not the wall clock), and
    a soak whose clock said the schedule had not ended after the driver's deadline had
    passed sampled without a pause for as long as the two disagreed (18 050 samples in
    its last 30 seconds). A wait that ends early without the load done (the driver's
    processes ended) ends the sampling too."""
    samples = [take(0.0)]
    while True:
        asked = time.time()
        if driver.wait(every_s):
            break
        now = time.time()
        at = now - driver.t0
        if at >= duration_s or now - asked < every_s:
            break  # the schedule is over, or the driver stopped waiting (its processes ended)
        samples.append(take(at))
        print(f"  sampled at {minutes(at)}", flush=True)
    driver.wait()  # until every answer is in, or the driver's hard deadline
    samples.append(take(time.time() - driver.t0))
    return samples


def failure_causes(records: Iterable[dict[str, Any]], top: int = 5) -> list[tuple[str, int]]:
    """The most common causes of the failed requests (5xx or no answer): 'status 503', or
    'no answer: <error>' (its first 80 characters), with their counts."""
    causes: Counter[str] = Counter()
    for record in records:
        status = int(record.get("status") or 0)
        if status == 0:
            causes[f"no answer: {str(record.get('error') or '')[:80]}"] += 1
        elif status >= 500:
            causes[f"status {status}"] += 1
    return causes.most_common(top)


def soak(
    topology: Path,
    duration_s: float,
    rps: float,
    every_s: float,
    cert_lifetime_s: float | None = None,
) -> tuple[list[Sample], list[tuple[str, int]]]:
    """Up, load with samples every `every_s`, down: the samples and the failures' causes.
    `cert_lifetime_s`: the sidecars' certificate lifetime (None: the control plane's)."""
    from harness.load import LoadDriver, iter_worker_records
    from harness.spec.load import LoadSpec
    from mesh_runtime.runtimes.admin import admin_headers
    from mesh_runtime.runtimes.local import LocalRuntime

    samples: list[Sample] = []
    unwind_on_sigterm()  # a soak stopped with SIGTERM takes its deployment down
    with tempfile.TemporaryDirectory(prefix="meshproof-soak-") as tmp:
        runtime = LocalRuntime(
            state_root=Path(tmp) / "state",
            progress=lambda m: None,
            cert_lifetime_s=cert_lifetime_s,
        )
        deployment = runtime.up(topology)
        try:
            records = deployment.processes_of("sidecar")
            sidecars = {p.name: p.pid for p in records}
            admin = {p.name: f"http://127.0.0.1:{p.ports['admin']}" for p in records}
            headers = admin_headers(deployment.admin_token_file)
            spec = LoadSpec(rps=rps, duration=duration_s, warmup=0, connections=8, timeout=5)
            driver = LoadDriver(spec, deployment.ingress_url, Path(tmp) / "load")
            try:
                driver.start()
                harness = [os.getpid(), *driver.pids()]
                samples.extend(
                    sample_while_loaded(
                        driver,
                        duration_s,
                        every_s,
                        lambda at: read_sample(
                            at,
                            sidecars,
                            harness,
                            driver.live(),
                            lambda: read_admin(admin, headers),
                        ),
                    )
                )
            finally:
                driver.stop()
            rows = (r for path in driver.records_files() for r in iter_worker_records(path))
            causes = failure_causes(rows)
        finally:
            runtime.down(runtime.load(deployment.name))
    return samples, causes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.soak", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--duration", default="1h", help="how long the load runs (1h)")
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--every", default="10m", help="time between samples (10m)")
    parser.add_argument("--topology", type=Path, default=TOPOLOGY)
    parser.add_argument(
        "--cert-lifetime",
        help="the sidecars' certificate lifetime (default: the control plane's, 1h);"
        " they renew at about half of it",
    )
    args = parser.parse_args(argv)
    try:
        duration_s = parse_duration(args.duration)
        every_s = parse_duration(args.every)
        lifetime_s = parse_duration(args.cert_lifetime) if args.cert_lifetime else None
        short = lifetime_s is not None and lifetime_s <= 0
        if duration_s <= 0 or every_s <= 0 or args.rps <= 0 or short:
            raise InvalidInput(
                "soak", "", "--duration, --every, --rps and --cert-lifetime must be above 0"
            )
        samples, causes = soak(args.topology, duration_s, args.rps, every_s, lifetime_s)
    except (ValueError, MeshproofError) as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    print("\n".join([*soak_lines(samples, args.rps), *sidecar_lines(samples)]), flush=True)
    for cause, count in causes:
        print(f"  failed: {count:,} x {cause}", flush=True)
    return 0 if passed(samples) else 1


if __name__ == "__main__":
    sys.exit(main())
