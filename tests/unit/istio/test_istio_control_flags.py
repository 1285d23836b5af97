"""The control plane's Kubernetes flags: contradictions are one InvalidInput line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_runtime.control.__main__ import build_parser, build_source
from mesh_runtime.errors import InvalidInput

BASE = ["--config", "c.json", "--port", "1", "--token-file", "t"]


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--namespace", "shop"], "--namespace: needs --kubeconfig"),
        (["--kube-context", "admin"], "--kube-context: needs --kubeconfig"),
        (["--kubeconfig", "k"], "--kubeconfig: needs --namespace"),
    ],
)
def test_flags_that_do_not_go_together(flags: list[str], says: str) -> None:
    """Each half of the source without the other is refused, naming what is missing."""
    with pytest.raises(InvalidInput, match=says):
        build_source(build_parser().parse_args([*BASE, *flags]))


def test_no_kubeconfig_file_is_named(tmp_path: Path) -> None:
    """A kubeconfig that is not there: InvalidInput naming the file."""
    missing = tmp_path / "nope"
    args = build_parser().parse_args([*BASE, "--kubeconfig", str(missing), "--namespace", "x"])
    with pytest.raises(InvalidInput, match="no such kubeconfig file"):
        build_source(args)


def test_without_flags_there_is_no_source() -> None:
    """The topology's config (and the write API) stays the source."""
    assert build_source(build_parser().parse_args(BASE)) is None
