"""`meshproof target check FILE`: can meshproof reach and use each part of an external mesh?

Connects to each part the target file names and prints one line per part: the ingress
answers (with the Host header, extra headers and TLS the load will use); Prometheus has
the mesh's request metric for every service the file names (within its extra matchers);
the Kubernetes API answers, the CRDs the mesh's faults patch are installed, and in each
allowed namespace the credentials may make every call the faults make (a
SelfSubjectAccessReview per verb and resource); Toxiproxy holds the proxies named; the
OTLP receiver's address can be listened on. A part the file leaves out is not checked.

With --experiment EXP (repeatable) each experiment is validated against the target first,
and the access lines ask only for the calls its Kubernetes faults make (the rollback's
too), in the namespaces they make them in.

Nothing is changed. Exit code 0 when every part works, 2 when one does not (or the file
is bad: one line naming the file and the field).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.commands import add_command
from mesh_runtime.quantities import positive_seconds


def register(subparsers: Any) -> None:
    target = add_command(
        subparsers,
        "target",
        "look at an external mesh's target file",
        "Target files describe a mesh meshproof did not deploy (experiments/targets/)."
        " One action: check.",
    )
    actions = target.add_subparsers(dest="target_command", metavar="ACTION", required=True)
    check = add_command(
        actions, "check", "connect to each part of a target file, one line per part", __doc__
    )
    check.add_argument("file", metavar="FILE", type=Path, help="target file (YAML)")
    check.add_argument(
        "--timeout", type=positive_seconds, default=5.0, metavar="S", help="per request (default 5)"
    )
    check.add_argument(
        "--experiment",
        action="append",
        type=Path,
        default=[],
        metavar="EXP",
        help="check only what these experiments' faults need (each validated against FILE);"
        " repeatable",
    )
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from harness import exits
    from harness.spec.check import check_experiment
    from harness.target.access import experiment_needs
    from harness.target.check import check_target
    from mesh_runtime.target import load_target

    target = load_target(args.file)
    needs = None
    if args.experiment:
        faults = [
            f
            for e in args.experiment
            for f in check_experiment(e, None, args.file).experiment.faults
        ]
        namespaces = target.kubernetes.namespaces if target.kubernetes else []
        needs = experiment_needs(faults, namespaces)
    print(f"target {target.name}: external {target.mesh} mesh ({args.file})")
    checks = check_target(target, args.timeout, needs)
    for check in checks:
        print(check.line())
    failed = [c.part for c in checks if not c.ok]
    if failed:
        print(
            f"FAIL: {', '.join(failed)}: experiments against {target.name} cannot run as they are"
        )
        return exits.NOT_DONE
    print(f"ok: every part of {target.name} works")
    return exits.PASSED
