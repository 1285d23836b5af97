"""Per-service bootstrap credentials: the proof of which workload a sidecar is.

Kubernetes projects a service-account token into each pod and istiod checks it before it
signs a certificate for that account. Here a deployment keeps one secret (the control
plane's `--bootstrap-secret-file`); the credential of service S is
`S.<base64url HMAC-SHA256(secret, S)>`, and the runtime hands it to S's sidecars only.
The CA signs a certificate for S only against S's credential: a sidecar holding catalog's
credential cannot become cart.

Pure: values in, values out; the MAC comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

DOMAIN = b"meshproof bootstrap credential v1\x00"
"""Keeps these MACs apart from anything else the same secret might ever sign."""


def mint_credential(secret: str, service: str) -> str:
    """The credential of `service` under `secret` (what its sidecars show)."""
    return f"{service}.{_mac(secret, service)}"


def credential_holder(secret: str, presented: str) -> str | None:
    """The service a presented credential proves, None when it is not one of `secret`'s."""
    service, dot, mac = presented.strip().rpartition(".")
    if not dot or not service:
        return None
    expected = _mac(secret, service)
    if not hmac.compare_digest(mac.encode("utf-8", "replace"), expected.encode("ascii")):
        return None
    return service


def _mac(secret: str, service: str) -> str:
    digest = hmac.new(
        secret.encode("utf-8"), DOMAIN + service.encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
