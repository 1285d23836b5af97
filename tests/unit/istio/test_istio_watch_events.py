"""apply_event: one watch event folded into what the control plane knows of a kind."""

from __future__ import annotations

from typing import Any

import pytest

from mesh_runtime.control.kube_api import KubeSourceError, ResourceVersionGone
from mesh_runtime.control.kube_source import KindView, apply_event


def event(kind: str, name: str, version: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "object": {"metadata": {"name": name, "resourceVersion": version}, **extra},
    }


def test_added_modified_deleted_change_the_objects_and_move_the_version() -> None:
    """ADDED and MODIFIED store the object, DELETED drops it; each moves the resourceVersion."""
    view = KindView()
    assert apply_event(view, event("ADDED", "catalog", "10", spec={"a": 1}))
    assert apply_event(view, event("MODIFIED", "catalog", "11", spec={"a": 2}))
    assert view.objects["catalog"]["spec"] == {"a": 2} and view.resource_version == "11"
    assert apply_event(view, event("DELETED", "catalog", "12"))
    assert view.objects == {} and view.resource_version == "12"
    assert not apply_event(view, event("DELETED", "catalog", "13")), (
        "deleting nothing changes nothing"
    )


def test_a_bookmark_moves_only_the_version() -> None:
    """BOOKMARK: no object changes, the next watch starts after its resourceVersion."""
    view = KindView(objects={"x": {"metadata": {"name": "x"}}}, resource_version="5")
    assert not apply_event(
        view, {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "99"}}}
    )
    assert view.resource_version == "99" and list(view.objects) == ["x"]


def test_410_gone_asks_for_a_new_list_and_other_errors_are_errors() -> None:
    """An ERROR event with code 410 raises ResourceVersionGone; any other code KubeSourceError."""
    gone = {"type": "ERROR", "object": {"code": 410, "message": "too old resource version: 1 (50)"}}
    with pytest.raises(ResourceVersionGone):
        apply_event(KindView(), gone)
    with pytest.raises(KubeSourceError, match="500"):
        apply_event(KindView(), {"type": "ERROR", "object": {"code": 500, "message": "boom"}})
