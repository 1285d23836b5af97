"""Upgrade validation (`meshproof validate-upgrade`): a kind of run, made of runs.

The same experiment with the baseline and the candidate sidecar, A B A B for N rounds,
each run through the engine; then the recorded runs are judged by harness.compare.

with prepared(parse_profile("git:v0.1.0"), repo) as base, prepared(...) as cand:
    runs = run_rounds(experiment, {"baseline": base, "candidate": cand}, 2, options, ...)
result = judge_rounds(runs, config)
"""

from harness.upgrade.profiles import ProfileSpec, SidecarProfile, parse_profile, prepared
from harness.upgrade.rounds import UpgradeRuns, judge_rounds, run_rounds, schedule

__all__ = [
    "ProfileSpec",
    "SidecarProfile",
    "UpgradeRuns",
    "judge_rounds",
    "parse_profile",
    "prepared",
    "run_rounds",
    "schedule",
]
