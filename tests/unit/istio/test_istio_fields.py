"""Fields: what a translation never read is named by its path."""

from __future__ import annotations

from mesh_runtime.control.istio.fields import Fields


def test_unread_names_every_field_nothing_read_in_document_order() -> None:
    """Read `a`, part of `b` and the first item of `c`: the rest is listed by path."""
    spec = Fields(
        {"a": 1, "b": {"x": 1, "y": 2}, "c": [{"k": 1, "j": 2}, {"k": 3}], "d": 4}, "spec"
    )
    spec.value("a")
    b = spec.obj("b")
    assert b is not None and b.value("x") == 1
    first, second = spec.objs("c")
    first.value("k")
    second.value("k")
    assert spec.unread() == ["spec.b.y", "spec.c[0].j", "spec.d"]


def test_take_unread_reports_once() -> None:
    """After take_unread, the parent's unread no longer lists those fields."""
    spec = Fields({"r": {"when": 1, "to": 2}}, "spec")
    rule = spec.obj("r")
    assert rule is not None
    rule.value("to")
    assert rule.take_unread() == ["spec.r.when"]
    assert spec.unread() == []
