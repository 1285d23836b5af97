"""The control plane's state: the current MeshConfig, its history, what each sidecar runs.

Pure: no I/O, time from an injected clock. Every change is validated by the pydantic
models and bumps the version; a rejected change leaves the configuration as it was.

Each sidecar gets only its service's scope of the config (mesh_runtime.config.scope), so
the store also keeps, per service, the version at which that scope last changed: a
sidecar that runs version N of its scope needs nothing while that is N or less, and it
runs the current version's configuration, as far as it is concerned.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mesh_runtime.config.mesh import MeshConfig, ServiceEntry
from mesh_runtime.config.policy import ServicePolicy
from mesh_runtime.config.scope import changed_services, concerned, scoped_config
from mesh_runtime.errors import InvalidInput
from mesh_runtime.validation import model_from_data

DEFAULT_HISTORY = 32

MAX_VERSION = 2**53 - 1
"""The highest version the store issues (JavaScript's Number.MAX_SAFE_INTEGER): every JSON
reader and float gauge holds it exactly. Config reads need no token and a sidecar's
reported version raises the store's (`record_sidecar`), so without a bound any client
could push it anywhere; past it a report is refused, and so is a change."""

MAX_SIDECARS = 10_000
"""Sidecar rows the status keeps (five times Istio's 2000-sidecar load test): a config
read may name any sidecar, so past this the row seen longest ago makes room."""


class UnknownService(InvalidInput):
    """A policy change named a service the mesh configuration does not have."""


@dataclass(frozen=True)
class SidecarReport:
    """The version a sidecar said it runs, and when (clock seconds) it last said so."""

    version: int
    seen: float
    service: str | None = None
    """The sidecar's service (None: it did not say, and gets the whole configuration)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, null deletes, the rest replaces."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class ConfigStore:
    """Holds the current MeshConfig and a bounded history of earlier versions."""

    def __init__(
        self,
        initial: MeshConfig,
        *,
        clock: Callable[[], float] = time.time,
        history: int = DEFAULT_HISTORY,
        max_sidecars: int = MAX_SIDECARS,
    ) -> None:
        self._clock = clock
        self._max_sidecars = max(max_sidecars, 1)
        self._current = initial.model_copy(update={"version": max(initial.version, 1)})
        self._history: deque[MeshConfig] = deque([self._current], maxlen=max(history, 1))
        self._sidecars: dict[str, SidecarReport] = {}
        """Instance -> its last report, the one seen longest ago first."""
        self._any_changed_at = self._current.version
        """Version of the last change to anything (what an unscoped sidecar follows)."""
        self._changed_at = dict.fromkeys(self._current.services, self._current.version)
        """Service -> version of the last change to its sidecars' scope."""

    @property
    def current(self) -> MeshConfig:
        return self._current

    @property
    def version(self) -> int:
        return self._current.version

    def history(self) -> list[MeshConfig]:
        """Versions still kept, oldest first; the last one is the current configuration."""
        return list(self._history)

    def at_version(self, version: int) -> MeshConfig | None:
        return next((c for c in self._history if c.version == version), None)

    def policy(self, service: str) -> ServicePolicy:
        return self._entry(service).policy

    def replace(self, data: Mapping[str, Any] | MeshConfig, source: str = "config") -> MeshConfig:
        """A whole new configuration; its own `version` is ignored and the current one bumped."""
        raw = data.model_dump(mode="json") if isinstance(data, MeshConfig) else data
        config = model_from_data(raw, MeshConfig, source)
        return self._commit(config)

    def put_policy(
        self, service: str, data: Mapping[str, Any] | ServicePolicy, source: str = "policy"
    ) -> MeshConfig:
        """Replace one service's policy with `data` (a whole ServicePolicy)."""
        self._entry(service)
        raw = data.model_dump(mode="json") if isinstance(data, ServicePolicy) else data
        policy = model_from_data(raw, ServicePolicy, source)
        return self._with_policy(service, policy)

    def patch_policy(
        self, service: str, patch: Mapping[str, Any], source: str = "policy"
    ) -> MeshConfig:
        """Change one service's policy by a JSON merge patch of its JSON form."""
        if not isinstance(patch, Mapping):
            raise InvalidInput(source, "", "expected a JSON object (a merge patch)")
        current = self._entry(service).policy.model_dump(mode="json")
        policy = model_from_data(merge_patch(current, patch), ServicePolicy, source)
        return self._with_policy(service, policy)

    def changed_at(self, service: str | None) -> int:
        """The version at which the configuration the sidecars of `service` get last
        changed (for a service the mesh lacks, or None: the last change to anything)."""
        return self._changed_at.get(service or "", self._any_changed_at)

    def config_for(self, service: str | None) -> MeshConfig:
        """The current configuration as the sidecars of `service` get it."""
        return scoped_config(self._current, service)

    def effective_version(self, report: SidecarReport) -> int:
        """The newest version whose configuration the reporting sidecar runs: the current
        one when its scope did not change since the version it reported."""
        if self.changed_at(report.service) <= report.version:
            return max(self.version, report.version)
        return report.version

    def record_sidecar(self, instance: str, version: int, service: str | None = None) -> bool:
        """Note that sidecar `instance` (of `service`) runs `version`, as of now.

        A sidecar ahead of the store means the control plane lost its state (restarted
        without its state file): the current config is re-issued above that version, so
        that sidecars, which only take newer versions, receive it. True when that happened.
        A version outside -1..MAX_VERSION is refused (InvalidInput) and nothing recorded.
        """
        if not -1 <= version <= MAX_VERSION:
            raise InvalidInput("sidecar", "version", f"expected -1 to {MAX_VERSION}, got {version}")
        reissue = version > self.version
        if reissue:
            self._commit(self._current, everything=True, above=version)  # at version + 1
        if self._sidecars.pop(instance, None) is None and len(self._sidecars) >= self._max_sidecars:
            del self._sidecars[next(iter(self._sidecars))]
        self._sidecars[instance] = SidecarReport(version, self._clock(), service)
        return reissue

    def sidecars(self) -> dict[str, SidecarReport]:
        return dict(self._sidecars)

    def status(self) -> dict[str, Any]:
        """The API's status document: current version and each sidecar's last report.

        A sidecar's `version` is the newest version whose configuration it runs (its
        `effective_version`); `applied` is the version it received and reported."""
        return {
            "version": self.version,
            "sidecars": {
                name: {
                    "version": self.effective_version(report),
                    "applied": report.version,
                    "service": report.service,
                    "seen": report.seen,
                }
                for name, report in sorted(self._sidecars.items())
            },
        }

    def _entry(self, service: str) -> ServiceEntry:
        entry = self._current.services.get(service)
        if entry is None:
            known = ", ".join(sorted(self._current.services)) or "none"
            raise UnknownService("services", service, f"unknown service (known: {known})")
        return entry

    def _with_policy(self, service: str, policy: ServicePolicy) -> MeshConfig:
        entry = self._entry(service).model_copy(update={"policy": policy})
        services = {**self._current.services, service: entry}
        return self._commit(self._current.model_copy(update={"services": services}))

    def _commit(
        self, config: MeshConfig, *, everything: bool = False, above: int = 0
    ) -> MeshConfig:
        """`config` as the new current version: the next one above the store's and `above`."""
        version = max(self.version, above) + 1
        if version > MAX_VERSION:
            problem = f"would pass {MAX_VERSION}, the highest version (restart without state)"
            raise InvalidInput("config", "version", problem)
        old = self._current
        new = config.model_copy(update={"version": version})
        changed = None if everything else changed_services(old, new)
        if changed is None or changed:
            self._any_changed_at = new.version
        self._changed_at = {
            name: new.version
            if concerned(name, changed, old, new)
            else self._changed_at.get(name, new.version)
            for name in new.services
        }
        self._current = new
        self._history.append(self._current)
        return self._current
