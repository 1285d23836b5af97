"""The control plane's second configuration source: Istio objects in a Kubernetes API server.

    source = IstioSource(IstioApi.connect(kubeconfig, context, "shop"))
    source.start(changed)                   # `changed()` is called (from a thread) on news
    config = source.configure(current)      # the MeshConfig the objects describe, or None

One thread per kind (VirtualService, DestinationRule, PeerAuthentication,
AuthorizationPolicy): list, then watch from the list's resourceVersion (bookmarks on);
each ADDED / MODIFIED / DELETED event updates that kind's objects; a watch the server ends
is opened again from the last resourceVersion seen; 410 Gone (that version is compacted
away) lists again. A failure (the API server down, a 403) is kept for the status and
retried with capped backoff, and the objects last seen stay in force meanwhile, as a
sidecar keeps its last good config. Every field the reference mesh does not implement is
in `status()["unimplemented"]` and logged once, by name.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.control.istio.kinds import KINDS, IstioKind
from mesh_runtime.control.istio.translate import Translation, translate
from mesh_runtime.control.kube_api import GONE, IstioApi, KubeSourceError, ResourceVersionGone

log = logging.getLogger("meshproof.control")

WATCH_TIMEOUT_S = 240.0
BACKOFF_BASE_S = 0.2
BACKOFF_MAX_S = 5.0


@dataclass
class KindView:
    """What the control plane knows of one kind: its objects by name, and where it is."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    resource_version: str | None = None
    listed: bool = False
    lists: int = 0
    error: str | None = None


def apply_event(view: KindView, event: Mapping[str, Any]) -> bool:
    """Fold one watch event into `view`; True when its objects changed.

    An ERROR event raises ResourceVersionGone for 410, KubeSourceError for anything else."""
    kind = event.get("type")
    obj = event.get("object") or {}
    if kind == "ERROR":
        if obj.get("code") == GONE:
            raise ResourceVersionGone(str(obj.get("message", "")))
        raise KubeSourceError(f"watch error {obj.get('code')}: {obj.get('message', obj)}")
    meta = obj.get("metadata") or {}
    if meta.get("resourceVersion"):
        view.resource_version = str(meta["resourceVersion"])
    if kind in ("ADDED", "MODIFIED"):
        view.objects[str(meta.get("name"))] = dict(obj)
        return True
    if kind == "DELETED":
        return view.objects.pop(str(meta.get("name")), None) is not None
    return False  # BOOKMARK: only the resourceVersion moves


class IstioSource:
    """Watches the Istio kinds of one namespace and translates them on demand."""

    def __init__(
        self,
        api: IstioApi,
        *,
        kinds: tuple[IstioKind, ...] = KINDS,
        watch_timeout_s: float = WATCH_TIMEOUT_S,
        rng: random.Random | None = None,
    ) -> None:
        self.api = api
        self._kinds = kinds
        self._watch_timeout_s = watch_timeout_s
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._views = {kind.kind: KindView() for kind in kinds}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._changed: Callable[[], None] = lambda: None
        self._last: Translation | None = None
        self._applied_version: int | None = None
        self._logged: set[str] = set()

    @property
    def name(self) -> str:
        return f"Istio objects in Kubernetes namespace {self.api.namespace} ({self.api.server})"

    def start(self, changed: Callable[[], None]) -> None:
        """Start a watch thread per kind; `changed` is called from them on every change."""
        self._changed = changed
        for kind in self._kinds:
            thread = threading.Thread(
                target=self._run, args=(kind,), name=f"watch-{kind.plural}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.api.close()
        for thread in self._threads:
            thread.join(timeout=5.0)

    def synced(self) -> bool:
        """Every kind listed at least once."""
        with self._lock:
            return all(view.listed for view in self._views.values())

    def objects(self) -> list[dict[str, Any]]:
        with self._lock:
            return [obj for view in self._views.values() for obj in view.objects.values()]

    def configure(self, current: MeshConfig) -> MeshConfig | None:
        """The configuration the objects describe over `current`'s services, or None before
        every kind was listed. New unimplemented fields and problems are logged once."""
        if not self.synced():
            return None
        translation = translate(self.objects(), current, self.api.namespace)
        for line in (*translation.unimplemented, *translation.problems):
            if line not in self._logged:
                self._logged.add(line)
                log.warning("kubernetes: %s", line)
        self._last = translation
        return translation.config

    def applied(self, version: int) -> None:
        """The control plane now serves what the objects describe, as `version`."""
        self._applied_version = version

    def status(self) -> dict[str, Any]:
        """The source's part of `GET /v1/config/status`."""
        with self._lock:
            views = dict(self._views)
            kinds = {
                name: {
                    "objects": len(view.objects),
                    "resourceVersion": view.resource_version,
                    "lists": view.lists,
                    "error": view.error,
                }
                for name, view in views.items()
            }
        last = self._last
        return {
            "namespace": self.api.namespace,
            "server": self.api.server,
            "synced": all(view.listed for view in views.values()),
            "applied_version": self._applied_version,
            "kinds": kinds,
            "unimplemented": list(last.unimplemented) if last else [],
            "problems": list(last.problems) if last else [],
        }

    # --- one thread per kind ---------------------------------------------------------------

    def _run(self, kind: IstioKind) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                if self._views[kind.kind].resource_version is None:
                    self._list(kind)
                self._watch(kind)
                failures = 0
            except ResourceVersionGone as exc:
                log.info("kubernetes: %s: %s; listing again", kind.plural, exc)
                self._views[kind.kind].resource_version = None
            except KubeSourceError as exc:
                if self._stopping.is_set():
                    return
                failures += 1
                self._failed(kind, str(exc))
                self._stopping.wait(self._backoff(failures))

    def _list(self, kind: IstioKind) -> None:
        items, version = self.api.list(kind)
        with self._lock:
            view = self._views[kind.kind]
            before = view.objects
            view.objects = {str(item["metadata"]["name"]): item for item in items}
            view.resource_version = version
            changed = not view.listed or _versions(before) != _versions(view.objects)
            view.listed = True
            view.lists += 1
            view.error = None
        if changed:
            self._changed()

    def _watch(self, kind: IstioKind) -> None:
        view = self._views[kind.kind]
        version = view.resource_version or ""
        for event in self.api.watch(kind, version, self._watch_timeout_s):
            with self._lock:
                changed = apply_event(view, event)
                view.error = None
            if changed:
                self._changed()
            if self._stopping.is_set():
                return

    def _failed(self, kind: IstioKind, message: str) -> None:
        with self._lock:
            view = self._views[kind.kind]
            first = view.error != message
            view.error = message
        if first:
            log.warning("kubernetes: %s (the last objects seen stay in force)", message)

    def _backoff(self, failures: int) -> float:
        ceiling = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (failures - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


def _versions(objects: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    return {
        name: str((obj.get("metadata") or {}).get("resourceVersion"))
        for name, obj in objects.items()
    }
