"""The control plane's state file: atomic save, load, absent file."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_runtime.config.mesh import MeshConfig, ServiceEntry
from mesh_runtime.control.state_file import load_state, save_state
from mesh_runtime.errors import InvalidInput


def test_saved_state_loads_back_equal(tmp_path: Path) -> None:
    """What is saved is what loads, version included; no temporary file is left."""
    config = MeshConfig(version=9, services={"cart": ServiceEntry(name="cart")})
    path = tmp_path / "state" / "control.json"
    save_state(path, config)
    save_state(path, config.model_copy(update={"version": 10}))
    loaded = load_state(path)
    assert loaded == config.model_copy(update={"version": 10})
    assert [p.name for p in path.parent.iterdir()] == ["control.json"]


def test_missing_state_is_none_and_a_bad_one_is_invalid_input(tmp_path: Path) -> None:
    """No file means no saved state; a corrupt file is a one-line InvalidInput."""
    assert load_state(tmp_path / "absent.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "x"}')
    with pytest.raises(InvalidInput, match="version"):
        load_state(bad)
