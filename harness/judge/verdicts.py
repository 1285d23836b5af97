"""SLO verdicts: each SLO of the experiment judged against its phase's summary.

Pure: SLOs and per-phase summaries in, `Verdict`s out. A metric with no data fails,
with the reason the summary gave ("no data: no request was answered 503 in this
phase"): an SLO that could not be checked has not been met.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from harness.judge.disturbance import settle
from harness.spec.slo import SLO
from harness.store.model import PhaseSummary, Verdict

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_NOT_DONE = 2
EXIT_INCONCLUSIVE = 3


def judge(
    slos: Sequence[SLO], summaries: Mapping[str, PhaseSummary], wakeups: int = 0
) -> list[Verdict]:
    """One verdict per SLO, in the experiment's order, each latency verdict weighed
    against the host's disturbance in its phase (`harness.judge.disturbance`; `wakeups`:
    the wake-ups one request meets, 0 weighs nothing)."""
    verdicts = []
    for slo in slos:
        verdict = judge_one(slo, summaries)
        summary = summaries.get(slo.phase)
        if wakeups and summary is not None:
            verdict = settle(verdict, summary.host, wakeups)
        verdicts.append(verdict)
    return verdicts


def judge_one(slo: SLO, summaries: Mapping[str, PhaseSummary]) -> Verdict:
    """The verdict of one SLO: passed only with a measured value that meets the threshold."""
    summary = summaries.get(slo.phase)
    value: float | None = None
    reason = ""
    if summary is None:
        reason = f"no data: the run has no phase {slo.phase!r}"
    else:
        value = summary.value(slo.metric)
        if value is None:
            why = summary.notes.get(slo.metric, f"{slo.metric} could not be computed")
            reason = f"no data: {why}"
    passed = value is not None and slo.holds(value)
    return Verdict(
        slo=slo.name,
        metric=slo.metric,
        op=slo.op,
        threshold=slo.threshold,
        phase=slo.phase,
        value=value,
        passed=passed,
        reason=reason,
    )


def exit_code(verdicts: Iterable[Verdict], aborted: bool) -> int:
    """0 every SLO passed, 1 an SLO failed, 2 the run could not be done (aborted),
    3 none failed but the host was too noisy to judge at least one (inconclusive)."""
    return {
        "passed": EXIT_PASSED,
        "failed": EXIT_FAILED,
        "inconclusive": EXIT_INCONCLUSIVE,
        "aborted": EXIT_NOT_DONE,
    }[run_status(verdicts, aborted)]


def run_status(verdicts: Iterable[Verdict], aborted: bool) -> str:
    """The run.json status matching `exit_code`: passed, failed, inconclusive or aborted."""
    if aborted:
        return "aborted"
    outcomes = {v.outcome for v in verdicts}
    if "fail" in outcomes:
        return "failed"
    return "inconclusive" if "inconclusive" in outcomes else "passed"
