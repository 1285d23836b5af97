"""The control plane's state in a ConfigMap: the pure parts (the reference, the data key,
who wins a conflict, the API server from a pod's environment), the writer thread that
keeps the writes off the event loop, and the flags."""

from __future__ import annotations

import threading
import time

import pytest

from mesh_runtime.config.mesh import MeshConfig, ServiceEntry
from mesh_runtime.control.__main__ import build_parser, build_state
from mesh_runtime.control.incluster import server_url
from mesh_runtime.control.state_configmap import (
    STATE_KEY,
    LatestWriter,
    config_of,
    parse_reference,
    should_overwrite,
    with_config,
)
from mesh_runtime.errors import InvalidInput

CONFIG = MeshConfig(version=7, services={"cart": ServiceEntry(name="cart")})


def test_the_reference_is_namespace_slash_name() -> None:
    """`shop/control-plane-state` names a namespace and a ConfigMap; other shapes are refused."""
    assert parse_reference("shop/control-plane-state") == ("shop", "control-plane-state")
    for bad in ("shop", "/x", "shop/", "a/b/c"):
        with pytest.raises(InvalidInput, match="NAMESPACE/NAME"):
            parse_reference(bad)


def test_a_config_written_into_the_configmap_reads_back_with_its_metadata_kept() -> None:
    """The config goes under STATE_KEY, the object's metadata (its resourceVersion, for the
    conditional replace) is kept, and it loads back equal, version included."""
    empty = {"metadata": {"name": "s", "resourceVersion": "41", "labels": {"a": "b"}}}
    assert config_of(empty, "cm") is None  # as the runtime creates it: initial config
    written = with_config(empty, CONFIG)
    assert written["metadata"] == empty["metadata"]
    assert set(written["data"]) == {STATE_KEY}
    assert config_of(written, "cm") == CONFIG
    assert "data" not in empty


def test_a_corrupt_state_is_one_line_invalid_input() -> None:
    """Not JSON, or JSON that is not a MeshConfig: InvalidInput naming the ConfigMap's key."""
    with pytest.raises(InvalidInput, match=f"cm: {STATE_KEY}: not JSON"):
        config_of({"data": {STATE_KEY: "{"}}, "cm")
    with pytest.raises(InvalidInput, match="version"):
        config_of({"data": {STATE_KEY: '{"version": "x"}'}}, "cm")


def test_after_a_conflict_the_higher_version_wins() -> None:
    """An empty, older or equal state is overwritten; a newer one is kept."""
    assert should_overwrite(None, CONFIG)
    assert should_overwrite(CONFIG.model_copy(update={"version": 6}), CONFIG)
    assert should_overwrite(CONFIG, CONFIG)
    assert not should_overwrite(CONFIG.model_copy(update={"version": 8}), CONFIG)


def test_the_api_server_comes_from_the_pods_environment() -> None:
    """KUBERNETES_SERVICE_HOST/PORT give the URL (an IPv6 host bracketed); none: refused."""
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert server_url(env) == "https://10.96.0.1:443"
    env6 = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    assert server_url(env6) == "https://[fd00::1]:443"
    with pytest.raises(InvalidInput, match="not in a pod"):
        server_url({})


def test_the_writer_returns_at_once_and_writes_the_latest_in_order() -> None:
    """Handing a value in does not wait for a slow write; values handed in meanwhile are
    coalesced, and the last one handed in is the last one written."""
    written: list[int] = []
    release = threading.Event()

    def slow_write(value: int) -> None:
        release.wait(5)
        written.append(value)

    writer: LatestWriter[int] = LatestWriter(slow_write, "test")
    began = time.monotonic()
    for value in range(1, 6):
        writer(value)
    handed_in_s = time.monotonic() - began
    assert not writer.flush(timeout=0.05)  # the first write still waits
    release.set()
    assert writer.flush(timeout=5)
    assert handed_in_s < 0.5
    assert written[-1] == 5
    assert written == sorted(written) and len(written) <= 2  # 1, then the latest


def test_a_failed_write_is_logged_and_the_next_value_still_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A write that raises a MeshproofError does not stop the writer."""
    written: list[int] = []

    def write(value: int) -> None:
        if value == 1:
            raise InvalidInput("cm", "", "refused")
        written.append(value)

    writer: LatestWriter[int] = LatestWriter(write, "the config")
    writer(1)
    assert writer.flush(timeout=5)
    writer(2)
    assert writer.flush(timeout=5)
    assert written == [2]
    assert "could not save the config: cm: refused" in caplog.text


def test_the_state_flags() -> None:
    """--state-file and --state-configmap exclude each other; outside a pod the ConfigMap
    state is refused at start (no service-account token), before any request."""
    base = ["--config", "c.json", "--port", "1", "--token-file", "t"]
    parser = build_parser()
    both = parser.parse_args([*base, "--state-file", "s.json", "--state-configmap", "a/b"])
    with pytest.raises(InvalidInput, match="--state-file or --state-configmap"):
        build_state(both)
    assert build_state(parser.parse_args(base)) is None
    with pytest.raises(InvalidInput, match="no service-account token"):
        build_state(parser.parse_args([*base, "--state-configmap", "a/b"]))
