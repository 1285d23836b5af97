"""Image build contexts and tags, and the Docker stats sampler's rows (no engine)."""

from __future__ import annotations

import importlib.metadata
import tarfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from mesh_runtime.errors import DeployError, MeshproofError
from mesh_runtime.runtimes.docker.images import (
    base_missing_message,
    build_log_error,
    context_digest,
    load_context,
    mesh_context,
    pinned_requirements,
    tar_context,
)
from mesh_runtime.runtimes.docker.stats import (
    DockerStatsSampler,
    StatsReading,
    Watched,
    reading,
    stats_row,
)
from mesh_runtime.runtimes.sampling import COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_tar_context_is_byte_identical_for_the_same_content_in_any_order() -> None:
    """Same files, any order: same bytes, same digest (so a tag names a content)."""
    a = tar_context([("b", b"2", 0o644), ("a", b"1", 0o644)])
    b = tar_context([("a", b"1", 0o644), ("b", b"2", 0o644)])
    assert a == b
    assert context_digest(a) != context_digest(tar_context([("a", b"1!", 0o644)]))


def test_mesh_context_holds_dockerfile_wheels_requirements_and_mesh_sources_only(
    tmp_path: Path,
) -> None:
    """The image gets the mesh's sources, not the host-only runtimes or tools."""
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    (wheelhouse / "x-1.0-py3-none-any.whl").write_bytes(b"wheel")
    context = mesh_context(
        REPO_ROOT / "compose" / "Dockerfile",
        wheelhouse,
        ["x==1.0"],
        REPO_ROOT / "mesh_runtime",
    )
    with tarfile.open(fileobj=BytesIO(context)) as tar:
        names = tar.getnames()
    assert {"Dockerfile", "requirements-mesh.txt", "wheelhouse/x-1.0-py3-none-any.whl"} <= set(
        names
    )
    assert "mesh_runtime/sidecar/server.py" in names
    assert not any(n.startswith(("mesh_runtime/runtimes/", "mesh_runtime/tools.py")) for n in names)


def test_load_context_adds_the_harness_and_what_the_mesh_image_left_out(
    tmp_path: Path,
) -> None:
    """The load image (on the mesh image) gets its wheels, the harness sources and the
    host-only parts of mesh_runtime the harness imports; nothing the mesh image has."""
    (tmp_path / "locust-2.0-py3-none-any.whl").write_bytes(b"wheel")
    dockerfile = REPO_ROOT / "compose" / "load.Dockerfile"
    context = load_context(dockerfile, tmp_path, ["locust==2.0"], REPO_ROOT / "harness")
    with tarfile.open(fileobj=BytesIO(context)) as tar:
        names = set(tar.getnames())
        requirements = tar.extractfile("requirements-load.txt")
        assert requirements is not None and requirements.read() == b"locust==2.0\n"
    assert {"Dockerfile", "wheelhouse/locust-2.0-py3-none-any.whl"} <= names
    assert {"harness/load/locust_main.py", "mesh_runtime/kube/resources.py"} <= names
    assert "mesh_runtime/sidecar/server.py" not in names


def test_requirements_are_pinned_to_the_host_versions() -> None:
    """Each requirement is name==version of what this environment runs."""
    pinned = pinned_requirements(["pydantic"])
    assert pinned == [f"pydantic=={importlib.metadata.version('pydantic')}"]


def test_a_requirement_missing_on_the_host_is_one_clear_error() -> None:
    """A package the host lacks is a DeployError naming it."""

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    with pytest.raises(DeployError, match="nope is not installed"):
        pinned_requirements(["nope"], version_of=missing)


def test_missing_base_message_says_how_to_provide_one() -> None:
    """The message names the image, says nothing is pulled and how to docker import one."""
    text = base_missing_message("meshproof/base:bookworm")
    assert "pulls nothing" in text and "docker import" in text and "make-base-image.sh" in text


def test_build_errors_are_read_from_the_build_stream() -> None:
    """A chunk with an error gives its message; a log line gives none."""
    assert build_log_error({"error": "x", "errorDetail": {"message": "boom"}}) == "boom"
    assert build_log_error({"stream": "Step 1/2"}) is None


def _stats(cpu_ns: int, rss: int) -> dict[str, Any]:
    return {
        "cpu_stats": {"cpu_usage": {"total_usage": cpu_ns}},
        "memory_stats": {"usage": rss * 2, "stats": {"rss": rss}},
    }


def test_reading_takes_rss_then_anon_then_usage_less_inactive_file() -> None:
    """cgroup v1 'rss', cgroup v2 'anon', else usage minus inactive file."""
    assert reading(_stats(2_000_000_000, 5), 1.0) == StatsReading(2.0, 5, 1.0)
    v2 = {"cpu_stats": {"cpu_usage": {"total_usage": 0}}, "memory_stats": {"stats": {"anon": 7}}}
    assert reading(v2, 0.0) == StatsReading(0.0, 7, 0.0)
    bare = {
        "cpu_stats": {"cpu_usage": {"total_usage": 0}},
        "memory_stats": {"usage": 10, "stats": {"inactive_file": 4}},
    }
    assert reading(bare, 0.0) == StatsReading(0.0, 6, 0.0)
    assert reading({"cpu_stats": {}}, 0.0) is None


def test_rows_are_cpu_used_in_the_interval_and_a_restart_counts_from_zero() -> None:
    """cpu_s is the difference of two readings, cpu_cores over the wall time."""
    watched = Watched("sidecar", "catalog-0-sidecar", 42, "abc")
    assert stats_row(watched, None, StatsReading(1.0, 0, 10.0), t0=0.0) is None
    row = stats_row(watched, StatsReading(1.0, 0, 10.0), StatsReading(1.5, 2 * 1024**2, 12.0), 5.0)
    assert row is not None
    assert set(row) == set(COLUMNS)
    assert row["cpu_s"] == pytest.approx(0.5) and row["cpu_cores"] == pytest.approx(0.25)
    assert row["t_s"] == 7.0 and row["rss_mb"] == 2.0
    restarted = stats_row(watched, StatsReading(5.0, 0, 10.0), StatsReading(0.2, 0, 11.0), 0.0)
    assert restarted is not None and restarted["cpu_s"] == pytest.approx(0.2)


def test_sampler_skips_a_container_it_cannot_read_and_keeps_the_others() -> None:
    """A gone container yields no row; the next readable one does."""
    totals = {"a": iter([0, 10**9]), "b": iter([])}
    now = iter([0.0, 1.0])

    def stats(container: str) -> dict[str, Any]:
        value = next(totals[container], None)
        if value is None:
            raise MeshproofError("gone")
        return _stats(value, 1024**2)

    sampler = DockerStatsSampler(
        [Watched("service", "a", 1, "a"), Watched("service", "b", 2, "b")],
        stats=stats,
        t0=0.0,
        clock=lambda: next(now),
    )
    assert sampler.sample() == []
    rows = sampler.sample()
    assert [r["name"] for r in rows] == ["a"] and rows[0]["cpu_cores"] == pytest.approx(1.0)
    assert list(sampler.frame().columns) == COLUMNS
