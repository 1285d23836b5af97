"""The OTLP/HTTP URL a user gives for spans to be sent to (light: the CLI and the target
file check it without loading OpenTelemetry)."""

from __future__ import annotations

from urllib.parse import urlsplit

TRACES_PATH = "/v1/traces"


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
