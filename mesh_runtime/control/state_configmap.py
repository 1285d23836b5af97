"""The control plane's state in a ConfigMap (`--state-configmap NAMESPACE/NAME`).

On the kubernetes runtime the control plane's pod is replaced (a `pod_delete`, a
`control_plane_outage` scaling its Deployment to 0 and back) and its emptyDir goes with
it, so a state file would not outlive it. As Istio's control plane keeps its state in the
API server, this one keeps the current MeshConfig in a ConfigMap of the deployment, key
`STATE_KEY`: a new pod loads it from there (the runtime creates the ConfigMap empty at
`up`; empty means: start from the initial config) and every change is written back with a
conditional replace (its resourceVersion). The pod needs only get and update on that one
ConfigMap (its Role, `manifests.control_plane_state`).

A write is a round trip to the API server, so the control plane does not make it on its
event loop: `LatestWriter` hands each new config to a writer thread, which writes the
newest one waiting (a config is the whole state: a skipped intermediate version loses
nothing). The thread is not a daemon, so a control plane told to stop finishes the write
in flight before its process ends.

Who wins on a conflict (someone else wrote since we read, e.g. the pod being replaced):
the higher config version (`should_overwrite`); the versions only grow.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.control.incluster import ApiConflict, ConfigMapApi
from mesh_runtime.errors import InvalidInput, MeshproofError
from mesh_runtime.validation import model_from_data

STATE_KEY = "mesh-config.json"
log = logging.getLogger("meshproof.control")

T = TypeVar("T")


def parse_reference(text: str) -> tuple[str, str]:
    """`NAMESPACE/NAME` -> (namespace, name); anything else is InvalidInput."""
    namespace, slash, name = text.partition("/")
    if not slash or not namespace or not name or "/" in name:
        raise InvalidInput("--state-configmap", "", f"expected NAMESPACE/NAME, got {text!r}")
    return namespace, name


def config_of(configmap: dict[str, Any], where: str) -> MeshConfig | None:
    """The config saved in `configmap`, None when it holds none yet."""
    text = (configmap.get("data") or {}).get(STATE_KEY)
    if not text:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(where, STATE_KEY, f"not JSON: {exc.msg}") from None
    return model_from_data(data, MeshConfig, f"{where} {STATE_KEY}")


def with_config(configmap: dict[str, Any], config: MeshConfig) -> dict[str, Any]:
    """`configmap` (its metadata, resourceVersion included) holding `config` instead."""
    out = {key: value for key, value in configmap.items() if key not in ("data", "binaryData")}
    out["data"] = {STATE_KEY: config.model_dump_json()}
    return out


def should_overwrite(stored: MeshConfig | None, config: MeshConfig) -> bool:
    """After a conflict: write `config` over what is stored now unless that is newer."""
    return stored is None or stored.version <= config.version


class ConfigMapState:
    """The state in one ConfigMap, which must exist (the runtime makes it at `up`)."""

    def __init__(self, api: ConfigMapApi, namespace: str, name: str) -> None:
        self._api = api
        self.namespace = namespace
        self.name = name
        self._last: dict[str, Any] | None = None
        """The object as last read or written (its resourceVersion makes the next write
        conditional)."""

    def __str__(self) -> str:
        return f"ConfigMap {self.namespace}/{self.name}"

    def load(self) -> MeshConfig | None:
        self._last = self._api.get(self.namespace, self.name)
        return config_of(self._last, str(self))

    def save(self, config: MeshConfig) -> None:
        current = self._last or self._api.get(self.namespace, self.name)
        try:
            self._last = self._api.replace(self.namespace, with_config(current, config))
            return
        except ApiConflict:
            current = self._api.get(self.namespace, self.name)
        stored = config_of(current, str(self))
        if stored is not None and not should_overwrite(stored, config):
            self._last = current
            log.warning(
                "%s holds version %d, newer than %d: kept", self, stored.version, config.version
            )
            return
        self._last = self._api.replace(self.namespace, with_config(current, config))


class LatestWriter(Generic[T]):
    """Calls `write` off the caller's thread with the newest value handed in; values handed
    in while a write runs are coalesced into the next (only the latest is written)."""

    def __init__(self, write: Callable[[T], None], what: str) -> None:
        self._write = write
        self._what = what
        self._changed = threading.Condition()
        self._pending: T | None = None
        self._running = False

    def __call__(self, value: T) -> None:
        with self._changed:
            self._pending = value
            if not self._running:
                self._running = True
                thread = threading.Thread(target=self._drain, name=self._what, daemon=False)
                thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every value handed in is written (or failed); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._running, timeout)

    def _drain(self) -> None:
        while True:
            with self._changed:
                value, self._pending = self._pending, None
                if value is None:
                    self._running = False
                    self._changed.notify_all()
                    return
            try:
                self._write(value)
            except MeshproofError as exc:  # ApiServerError included: logged, the next one retries
                log.error("could not save %s: %s", self._what, exc)
