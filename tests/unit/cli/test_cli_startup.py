"""CLI start-up: building the parser and `validate` load none of the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.cli.commands import RUNTIMES
from mesh_runtime.runtimes.registry import RUNTIMES as REGISTRY_RUNTIMES

REPO = Path(__file__).resolve().parents[3]
HEAVY = (
    "pandas",
    "pyarrow",
    "numpy",
    "scipy",
    "locust",
    "gevent",
    "streamlit",
    "docker",
    "matplotlib",
    "opentelemetry",
    "prometheus_api_client",
    "duckdb",
)


def _probe(code: str) -> tuple[str, set[str]]:
    """Run `code` in a fresh interpreter: what it printed, and the top-level packages loaded."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    *printed, modules = done.stdout.splitlines()
    return "\n".join(printed), {name.partition(".")[0] for name in json.loads(modules)}


def test_building_the_parser_imports_no_heavy_library() -> None:
    """`import harness.cli.main` and its full parser (every command) load no heavy package."""
    _, loaded = _probe("import harness.cli.main as m\nm.build_parser()")
    assert sorted(loaded & set(HEAVY)) == []


def test_help_imports_neither_pydantic_nor_rich() -> None:
    """`meshproof --help` lists the commands with argparse alone: no pydantic, no rich."""
    code = "import contextlib, harness.cli.main as m\nwith contextlib.suppress(SystemExit):\n"
    printed, loaded = _probe(code + "    m.main(['--help'])")
    assert "usage: meshproof" in printed and "validate" in printed
    assert not loaded & {"pydantic", "rich", "yaml", *HEAVY}


def test_validate_imports_no_heavy_library() -> None:
    """`meshproof validate` reads the spec and topology without pandas, scipy, locust or docker."""
    code = "import harness.cli.main as m\nassert m.main(['validate', 'experiments/baseline.yaml']) == 0"
    printed, loaded = _probe(code)
    assert printed.startswith("ok: ")
    assert sorted(loaded & set(HEAVY)) == []


def test_runtime_choices_are_the_registry_runtimes() -> None:
    """The CLI's `--runtime` choices, spelled to keep parsing light, are the registry's."""
    assert RUNTIMES == REGISTRY_RUNTIMES
