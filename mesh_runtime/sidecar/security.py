"""The sidecar's security wiring: which upstreams get mTLS, what the inbound enforces.

`MeshSecurity` answers, from the current MeshConfig and the sidecar's credentials, the
questions the listeners and pools ask: the inbound listener's PeerAuthentication mode,
the server context for a TLS connection, the authorization policies of this service,
and (on each new config) how every upstream pool must connect.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Any

from mesh_runtime.policy_rules import MtlsMode, spiffe_id
from mesh_runtime.sidecar.endpoint_pool import UpstreamTLS
from mesh_runtime.sidecar.identity import IdentityKeeper
from mesh_runtime.sidecar.meshconfig import AuthorizationPolicy
from mesh_runtime.sidecar.state import MeshState, StateHolder
from mesh_runtime.sidecar.tls import Credentials, ListenerStats, effective_mode


class MeshSecurity:
    def __init__(self, service: str, holder: StateHolder, keeper: IdentityKeeper | None) -> None:
        self.service = service
        self._holder = holder
        self.keeper = keeper
        self.listener: ListenerStats | None = None

    def credentials(self) -> Credentials | None:
        return self.keeper.current if self.keeper is not None else None

    def client_context(self) -> ssl.SSLContext | None:
        current = self.credentials()
        return current.client if current is not None else None

    def client_h2_context(self) -> ssl.SSLContext | None:
        current = self.credentials()
        return current.client_h2 if current is not None else None

    def inbound_mode(self) -> MtlsMode:
        state = self._holder.current
        return effective_mode(state.config if state is not None else None, self.service)

    def policies(self) -> Sequence[AuthorizationPolicy]:
        return self._holder.authorization(self.service)

    def configure_upstreams(self, state: MeshState) -> None:
        """mTLS to every endpoint of a service whose mode is not DISABLE, else plain.

        A sidecar without an identity (no bootstrap token) always sends plain text, as
        Istio's auto mTLS does for a workload without a sidecar certificate: PERMISSIVE
        destinations take it, STRICT ones refuse it.
        """
        domain = state.config.mesh.trustDomain
        for name, runtime in state.services.items():
            tls = None
            if self.keeper is not None and effective_mode(state.config, name) != "DISABLE":
                tls = UpstreamTLS(
                    self.client_context, spiffe_id(domain, name), self.client_h2_context
                )
            for pool in runtime.pools.values():
                pool.set_tls(tls)

    def summary(self) -> dict[str, Any]:
        """For the admin /stats: the certificate (never its key) and the listener's counts."""
        out: dict[str, Any] = {"inbound_mode": self.inbound_mode()}
        if self.keeper is not None:
            out.update(self.keeper.summary())
        if self.listener is not None:
            out["inbound_connections"] = self.listener.as_dict()
        return out
