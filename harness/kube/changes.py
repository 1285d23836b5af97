"""One object changed by a fault: snapshot, patch with its resourceVersion, exact restore.

    snapshot = read(kube, ref)                                  # GET
    change = ObjectChange(snapshot=snapshot, patch=..., mark="run-1/catalog-abort")
    ledger.begin(fault, {... change.model_dump(mode="json") ...})   # on disk first
    applied = apply(kube, change)                               # PATCH, only onto that version
    ...
    restore(kube, change, applied=applied)                      # GET, then PUT the snapshot

`apply` sends the merge patch with the snapshot's resourceVersion: an edit made by anyone
between the read and the patch makes the server answer 409 (KubeConflict) and nothing is
written. (A controller's status write also bumps the version: when the object's state is
still the snapshot's, the patch is sent again at the new version, after CONFLICT_PAUSES_S.)
The patch always sets the fault's mark (MARK_ANNOTATION).

`restore` puts the snapshot's state (spec, labels, annotations) back exactly, with a PUT
conditional on the version it has just read, after checking that nobody else changed the
object since the fault did: the object must still be in the state the fault left it in
(`applied`, the server's answer to the patch, when the harness still has it; else
`change.expected`, the snapshot with the patch merged: what `meshproof recover` has). If it
is not, `ChangedSince` says what changed and nothing is written, unless `force`. An
object without the fault's mark does not carry the fault's change (its apply never
landed, or was already undone): there is nothing to restore. An object the fault created
(`snapshot.existed` False) is deleted, with its uid and resourceVersion as preconditions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from harness.errors import FaultError
from harness.kube.diff import describe, differences, merge
from harness.kube.state import MARK_ANNOTATION, KubeModel, ObjectRef, ObjectState, Snapshot
from mesh_runtime.kube.errors import KubeConflict, KubeNotFound

if TYPE_CHECKING:  # the client imports the `kubernetes` package; the caller has one already
    from mesh_runtime.kube.client import KubeClient


CONFLICT_PAUSES_S = (0.01, 0.05, 0.25, 1.25)
"""The pauses before each write tried again after a 409 that came only from what a fault
does not own (a controller's status writes, which come in bursts during a rollout):
client-go's DefaultBackoff (10 ms, x5), one step longer; five writes in all over 1.56 s."""

T = TypeVar("T")


class ChangedSince(FaultError):
    """Someone else changed an object after a fault did; rollback refused to overwrite it."""


class ObjectChange(KubeModel):
    """What a fault does to one object: the snapshot, the merge patch and the fault's mark.

    For an object the fault creates, `patch` is the state it is created with.
    """

    snapshot: Snapshot
    patch: dict[str, Any]
    mark: str

    @property
    def ref(self) -> ObjectRef:
        return self.snapshot.ref

    @property
    def marked_patch(self) -> dict[str, Any]:
        """The patch with the fault's mark added to the annotations."""
        return merge(self.patch, {"metadata": {"annotations": {MARK_ANNOTATION: self.mark}}})

    @property
    def expected(self) -> ObjectState:
        """The object's state once the patch landed (as far as the patch alone says)."""
        before = self.snapshot.state.document() if self.snapshot.existed else {}
        return ObjectState.of(merge(before, self.marked_patch))


def read(kube: KubeClient, ref: ObjectRef) -> Snapshot:
    """GET the object and snapshot it (KubeNotFound when there is none)."""
    return Snapshot.of(ref, kube.get(ref.resource, ref.namespace, ref.name))


def read_or_absent(kube: KubeClient, ref: ObjectRef) -> Snapshot:
    """The object's snapshot, or `Snapshot.absent(ref)` when it does not exist."""
    try:
        return read(kube, ref)
    except KubeNotFound as exc:
        if exc.detail.startswith("the server does not serve"):
            raise  # the resource itself is missing (a CRD not installed), not the object
        return Snapshot.absent(ref)


def apply(kube: KubeClient, change: ObjectChange) -> ObjectState:
    """Make the change: PATCH onto the snapshot's version, or create the object. The state
    the server answered with (defaults filled in) is returned for `restore`."""
    ref, snapshot = change.ref, change.snapshot
    if not snapshot.existed:
        body = merge(
            {
                "apiVersion": ref.resource.api_version,
                "kind": ref.kind,
                "metadata": {"name": ref.name, "namespace": ref.namespace},
            },
            change.marked_patch,
        )
        return ObjectState.of(kube.create(ref.resource, ref.namespace, body))
    version = snapshot.resource_version
    for pause in CONFLICT_PAUSES_S:
        try:
            return _patch(kube, change, version)
        except KubeConflict as conflict:
            time.sleep(pause)
            version = _version_if_unchanged(kube, change, conflict)
    return _patch(kube, change, version)


def _patch(kube: KubeClient, change: ObjectChange, version: str) -> ObjectState:
    ref = change.ref
    answer = kube.merge_patch(
        ref.resource, ref.namespace, ref.name, change.marked_patch, resource_version=version
    )
    return ObjectState.of(answer)


def _version_if_unchanged(kube: KubeClient, change: ObjectChange, conflict: KubeConflict) -> str:
    """After a 409: the object's new resourceVersion when only what a fault does not own
    moved on (its status, written by a controller); the 409 itself when its state did."""
    ref = change.ref
    current = kube.get(ref.resource, ref.namespace, ref.name)
    if ObjectState.of(current) != change.snapshot.state:
        raise conflict
    return str(current["metadata"].get("resourceVersion", ""))


def restore(
    kube: KubeClient,
    change: ObjectChange,
    *,
    applied: ObjectState | None = None,
    force: bool = False,
) -> str:
    """Undo the change exactly; returns what was done, one line. Raises ChangedSince when
    someone else changed the object since (not with `force`). A 409 between this read and
    this write (a status write) reads and checks again after each of CONFLICT_PAUSES_S."""
    return _again_on_conflict(lambda: _restore_once(kube, change, applied, force))


def _again_on_conflict(attempt: Callable[[], T]) -> T:
    """`attempt()`, called again after each 409 it raises, once after each pause of
    CONFLICT_PAUSES_S (client-go's RetryOnConflict); the last 409 raised."""
    for pause in CONFLICT_PAUSES_S:
        try:
            return attempt()
        except KubeConflict:
            time.sleep(pause)
    return attempt()


def _restore_once(
    kube: KubeClient, change: ObjectChange, applied: ObjectState | None, force: bool
) -> str:
    ref, snapshot = change.ref, change.snapshot
    try:
        current = kube.get(ref.resource, ref.namespace, ref.name)
    except KubeNotFound:
        return _restore_deleted(kube, change, force=force)
    state = ObjectState.of(current)
    if state.mark != change.mark:
        if not snapshot.existed:
            return f"{ref}: not the object {change.mark} created (its mark is gone): left as is"
        if state == snapshot.state:
            return f"{ref}: already as it was"
        if not force:
            return f"{ref}: does not carry {change.mark}'s change (never applied, or undone): left as is"
    elif not force:
        refuse_if_changed(change, state, applied)
    version = str(current["metadata"].get("resourceVersion", ""))
    if not snapshot.existed:
        kube.delete(ref.resource, ref.namespace, ref.name, resource_version=version)
        return f"{ref}: deleted (meshproof created it)"
    kube.replace(ref.resource, ref.namespace, snapshot.state.onto(current))
    return f"{ref}: restored to its snapshot (resourceVersion {snapshot.resource_version})"


def unmark(kube: KubeClient, change: ObjectChange) -> str:
    """Take the fault's mark off an object whose change is meant to stay (a rollout restart
    that completed: its old pod template back would restart the pods again), at the version
    just read; nothing else is written. A 409 (a status write in between) reads again
    after each of CONFLICT_PAUSES_S. Returns what was done, one line."""
    return _again_on_conflict(lambda: _unmark_once(kube, change))


def _unmark_once(kube: KubeClient, change: ObjectChange) -> str:
    ref = change.ref
    try:
        current = kube.get(ref.resource, ref.namespace, ref.name)
    except KubeNotFound:
        return f"{ref}: gone"
    if ObjectState.of(current).mark != change.mark:
        return f"{ref}: carries no mark of {change.mark}"
    version = str(current["metadata"].get("resourceVersion", ""))
    patch = {"metadata": {"annotations": {MARK_ANNOTATION: None}}}
    kube.merge_patch(ref.resource, ref.namespace, ref.name, patch, resource_version=version)
    return f"{ref}: mark {change.mark} removed"


def refuse_if_changed(
    change: ObjectChange, state: ObjectState, applied: ObjectState | None
) -> None:
    """Raise ChangedSince unless `state` is what the fault left (`applied` or expected)."""
    if state in (applied, change.expected):
        return
    lines = differences((applied or change.expected).document(), state.document())
    raise ChangedSince(
        f"{change.ref}: changed since {change.mark} patched it, not restored "
        f"(`meshproof recover --force` restores it anyway): {describe(lines)}"
    )


def _restore_deleted(kube: KubeClient, change: ObjectChange, *, force: bool) -> str:
    ref, snapshot = change.ref, change.snapshot
    if not snapshot.existed:
        return f"{ref}: already deleted"
    if not force:
        raise ChangedSince(
            f"{ref}: deleted since {change.mark} patched it, not re-created "
            "(`meshproof recover --force` re-creates it from its snapshot)"
        )
    body = snapshot.state.onto(
        {
            "apiVersion": ref.resource.api_version,
            "kind": ref.kind,
            "metadata": {"name": ref.name, "namespace": ref.namespace},
        }
    )
    kube.create(ref.resource, ref.namespace, body)
    return f"{ref}: re-created from its snapshot"
