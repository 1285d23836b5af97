"""SLO verdicts: each SLO of the experiment judged against its phase's summary.

Pure: SLOs and per-phase summaries in, `Verdict`s out. A metric with no data fails,
with the reason the summary gave ("no data: no request was answered 503 in this
phase"): an SLO that could not be checked has not been met. Except a metric that was
never measured (`unmeasured`: a counter whose family Prometheus had no series of during
the run): that SLO is not judged (`Verdict.unmeasured`), neither passed nor failed, and
the run is inconclusive.

A latency SLO on service time (`p50_ms`, `p90_ms`, `p99_ms`, `p999_ms`) in a phase where
the load fell behind its schedule is judged on the corrected latency of the same
percentile (from each request's intended send: what users waited), and its reason says
so: service time hides the wait of requests that could not leave on time.

A measured value whose summary carries a note keeps it as the reason: `recovery_s`
says which conditions held from when ("recovered: error_rate < 0.01 and p99_ms < 100
held for 5 s from 31.0 s, ...").
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from harness.exits import FAILED, INCONCLUSIVE, NOT_DONE, PASSED
from harness.judge.disturbance import settle
from harness.spec.load import fell_behind
from harness.spec.slo import SLO
from harness.store.model import Outcome, PhaseSummary, Verdict

CORRECTED_OF = {
    "p50_ms": "corrected_p50_ms",
    "p90_ms": "corrected_p90_ms",
    "p99_ms": "corrected_p99_ms",
    "p999_ms": "corrected_p999_ms",
}
"""Service-time percentiles and their coordinated-omission-corrected twins."""


def judge(
    slos: Sequence[SLO],
    summaries: Mapping[str, PhaseSummary],
    wakeups: int = 0,
    stopped_s: float | None = None,
    unmeasured: Collection[str] = (),
) -> list[Verdict]:
    """One verdict per SLO, in the experiment's order, each latency verdict weighed
    against the host's disturbance in its phase (`harness.judge.disturbance`; `wakeups`:
    the wake-ups one request meets, 0 weighs nothing). `stopped_s`: where a stopped run
    stopped (its SLOs of phases it never reached say so). `unmeasured`: metrics the run
    never measured (`harness.analysis.unmeasured_metrics`): their SLOs are not judged."""
    verdicts = []
    for slo in slos:
        verdict = judge_one(slo, summaries, stopped_s, unmeasured)
        summary = summaries.get(str(slo.phase))
        if wakeups and summary is not None:
            verdict = settle(verdict, summary.host, wakeups)
        verdicts.append(verdict)
    return verdicts


def judge_one(
    slo: SLO,
    summaries: Mapping[str, PhaseSummary],
    stopped_s: float | None = None,
    unmeasured: Collection[str] = (),
) -> Verdict:
    """The verdict of one SLO: passed only with a measured value that meets the threshold;
    not judged (`unmeasured`) when its metric was never measured."""
    summary = summaries.get(str(slo.phase))
    value: float | None = None
    reason = ""
    if summary is None and stopped_s is not None:
        reason = (
            f"no data: the run was stopped at {stopped_s:.1f} s, before phase {str(slo.phase)!r}"
        )
    elif summary is None:
        reason = f"no data: the run has no phase {str(slo.phase)!r}"
    else:
        value = summary.value(slo.metric)
        if value is None:
            why = summary.notes.get(slo.metric, f"{slo.metric} could not be computed")
            reason = f"no data: {why}"
        elif slo.metric in CORRECTED_OF and _fell_behind(summary):
            value, reason = _on_corrected(slo.metric, value, summary)
        else:  # what a measured value means, when the summary says (recovery_s does)
            reason = summary.notes.get(slo.metric, "")
    passed = value is not None and slo.holds(value)
    outcome: Outcome = "pass" if passed else "fail"
    bounds = summary.bounds.get(slo.metric) if summary is not None and not passed else None
    if bounds is not None and slo.op in CAPS and slo.holds(bounds[0]):
        outcome = "inconclusive"
        reason = edge_reason(slo.metric, bounds, summary.scrape_lag_s if summary else None)
    return Verdict(
        slo=slo.name,
        metric=slo.metric,
        op=slo.op,
        threshold=slo.threshold,
        phase=str(slo.phase),
        value=value,
        passed=passed,
        outcome=outcome,
        reason=reason,
        unmeasured=value is None and slo.metric in unmeasured and summary is not None,
    )


CAPS = frozenset({"<", "<=", "=="})
"""SLO operators that cap a count: one the events of the phase before could fail."""


def edge_reason(metric: str, bounds: tuple[float, float], lag_s: float | None) -> str:
    """Why a capped count is inconclusive: it fails counting the events next to the
    phase's start, which the counter's scrapes cannot place in it, and holds without them.
    (A floor, `ejections >= 1 during:x`, is judged on the count as it is: a fault's first
    ejections come in its first moments.)"""
    every = f" every {lag_s:g} s" if lag_s else ""
    return (
        f"the mesh's counter is scraped{every}: its events next to the phase's start may "
        f"belong to the phase before; {bounds[0]:.3g} without them, {bounds[1]:.3g} with them"
    )


def _fell_behind(summary: PhaseSummary) -> bool:
    """The phase's load fell behind its schedule (`harness.spec.load.fell_behind`)."""
    return fell_behind(summary.value("late_share"), summary.value("max_send_lag_ms"))


def _on_corrected(metric: str, service: float, summary: PhaseSummary) -> tuple[float | None, str]:
    """The corrected twin of a service-time percentile, and why the verdict uses it."""
    corrected = summary.value(CORRECTED_OF[metric])
    behind = summary.notes.get("load", "the load fell behind its schedule")
    if corrected is None:
        return None, f"no data: {behind}, and its corrected latency could not be computed"
    return corrected, (
        f"{behind}; service time ({service:.1f} ms) does not describe what users waited:"
        f" judged on corrected latency ({CORRECTED_OF[metric]})"
    )


def exit_code(verdicts: Iterable[Verdict], aborted: bool) -> int:
    """0 every SLO passed, 1 an SLO failed, 2 the run could not be done (aborted),
    3 none failed but at least one could not be judged: the host was too noisy, or its
    metric was never measured (inconclusive)."""
    return {
        "passed": PASSED,
        "failed": FAILED,
        "inconclusive": INCONCLUSIVE,
        "aborted": NOT_DONE,
    }[run_status(verdicts, aborted)]


def run_status(verdicts: Iterable[Verdict], aborted: bool) -> str:
    """The run.json status matching `exit_code`: passed, failed, inconclusive or aborted."""
    if aborted:
        return "aborted"
    outcomes = {"inconclusive" if v.unmeasured else v.outcome for v in verdicts}
    if "fail" in outcomes:
        return "failed"
    return "inconclusive" if "inconclusive" in outcomes else "passed"
