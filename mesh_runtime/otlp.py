"""The OTLP/HTTP URL a user gives for spans to be sent to, and which answers to an export
are worth another try (light: the CLI, the target file and the sidecar use it without
loading OpenTelemetry)."""

from __future__ import annotations

from urllib.parse import urlsplit

TRACES_PATH = "/v1/traces"
RETRYABLE_4XX = frozenset({408, 429})
"""The 4xx answers after which an export is tried again (every 5xx is)."""


class BadForwardUrl(ValueError):
    """Not an http(s) URL with a host."""


def forward_url(text: str) -> str:
    """The OTLP/HTTP traces URL to forward to: a bare base URL gets '/v1/traces'."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadForwardUrl(
            f"expected an OTLP/HTTP URL like http://127.0.0.1:4318/v1/traces, got {text!r}"
        )
    try:
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError:
        raise BadForwardUrl(f"{text!r}: bad port") from None
    if parts.path in ("", "/"):
        return parts._replace(path=TRACES_PATH).geturl()
    return parts.geturl()


def retryable(status: int) -> bool:
    """Whether an export the endpoint answered `status` (not a 2xx) is worth sending again:
    408, 429 and every 5xx (OTLP/HTTP names 429, 502, 503 and 504; a collector that is
    restarting answers 500 too). Any other answer refuses the batch for good: sending it
    again would block every span behind it."""
    return status >= 500 or status in RETRYABLE_4XX
