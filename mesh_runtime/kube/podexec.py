"""A command run in a pod's container through the API server: the `pods/exec` subresource,
as `kubectl exec` does it (a websocket, subprotocol `v5.channel.k8s.io`, else
`v4.channel.k8s.io`).

Every message the server sends starts with one byte naming its channel: 1 stdout,
2 stderr, 3 the command's outcome (a `Status` object as JSON: `Success`, or `Failure`
with reason `NonZeroExitCode` and the code in its causes, or why the command could not
run), 255 (v5) a channel closed. `decode` turns the messages into an `ExecResult`
(pure); `exec_in_pod` carries the bytes (the transport, at the edge). No stdin and no
terminal are asked for: the command runs to its end and its output comes back whole.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from mesh_runtime.kube.errors import (
    KubeApiError,
    Request,
    from_api_exception,
    one_line,
    unreachable,
)

SUBPROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDOUT, STDERR, ERROR, CLOSE = 1, 2, 3, 255


@dataclass(frozen=True)
class ExecResult:
    """What the command wrote and how it ended; `error` says why it could not run at all
    (no such executable, the container not running) and is '' when it ran."""

    stdout: str
    stderr: str
    exit_code: int | None
    error: str = ""


def decode(messages: Iterable[bytes]) -> ExecResult:
    """The result of one exec from the server's messages, in order. Pure."""
    out: dict[int, bytearray] = {STDOUT: bytearray(), STDERR: bytearray(), ERROR: bytearray()}
    for message in messages:
        if not message:
            continue
        channel, payload = message[0], message[1:]
        if channel in out:
            out[channel] += payload
    stdout = out[STDOUT].decode("utf-8", errors="replace")
    stderr = out[STDERR].decode("utf-8", errors="replace")
    code, error = outcome(bytes(out[ERROR]))
    return ExecResult(stdout, stderr, code, error)


def outcome(status_json: bytes) -> tuple[int | None, str]:
    """(exit code, why it did not run) from the error channel's Status. Pure.

    No Status at all (the v4 server closed without one) reads as a code of None."""
    if not status_json.strip():
        return None, ""
    try:
        status = json.loads(status_json)
    except ValueError:
        return None, one_line(status_json.decode("utf-8", errors="replace"), 300)
    if not isinstance(status, dict):
        return None, f"not a Status: {one_line(str(status), 200)}"
    if status.get("status") == "Success":
        return 0, ""
    if status.get("reason") == "NonZeroExitCode":
        causes = (status.get("details") or {}).get("causes") or []
        for cause in causes:
            if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
                try:
                    return int(str(cause.get("message"))), ""
                except ValueError:
                    break
    return None, one_line(str(status.get("message") or status.get("reason") or status), 300)


def exec_path(namespace: str, pod: str, container: str, command: Sequence[str]) -> str:
    """The exec subresource's path and query (one `command` parameter per argument)."""
    query: list[tuple[str, str]] = [
        ("container", container),
        ("stdout", "true"),
        ("stderr", "true"),
    ]
    query += [("command", part) for part in command]
    base = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/exec"
    return f"{base}?{urlencode(query)}"


def exec_in_pod(
    configuration: Any,
    namespace: str,
    pod: str,
    container: str,
    command: Sequence[str],
    *,
    timeout_s: float,
) -> ExecResult:
    """Run `command` in the container over a websocket to the API server that
    `configuration` (the `kubernetes` package's, with the kubeconfig's credentials) names.
    A refused upgrade (403 RBAC, 404 no such pod, 400 no such container) or no answer is
    the matching KubeApiError."""
    import websocket  # websocket-client: imported when an exec is made

    request = Request("create", "pods/exec", namespace, pod)
    server = str(configuration.host)
    url = "ws" + server.removeprefix("http") + exec_path(namespace, pod, container, command)
    headers = [f"{k}: {v}" for k, v in _auth_headers(configuration).items()]
    socket = websocket.WebSocket(sslopt=_ssl_options(configuration))
    try:
        socket.connect(url, header=headers, subprotocols=list(SUBPROTOCOLS), timeout=timeout_s)
        messages: list[bytes] = []
        while True:
            opcode, data = socket.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            messages.append(data if isinstance(data, bytes) else data.encode("utf-8"))
    except websocket.WebSocketBadStatusException as exc:
        raise _refused(exc, request, server) from None
    except websocket.WebSocketConnectionClosedException:
        pass  # the server closed after the last message without a close frame
    except (websocket.WebSocketException, OSError) as exc:
        raise unreachable(exc, request, server=server) from exc
    finally:
        socket.close()
    return decode(messages)


def _refused(exc: Any, request: Request, server: str) -> KubeApiError:
    body = exc.resp_body or b""
    status = type("Answer", (), {"status": exc.status_code, "reason": "", "body": body})
    return from_api_exception(status, request, server=server)


def _auth_headers(configuration: Any) -> Mapping[str, str]:
    """The bearer token header, if the kubeconfig's user has one (client certificates are
    in the TLS options instead)."""
    settings = configuration.auth_settings().get("BearerToken") or {}
    value = settings.get("value")
    return {"authorization": str(value)} if value else {}


def _ssl_options(configuration: Any) -> dict[str, Any]:
    if not configuration.verify_ssl:
        return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
    options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED}
    if configuration.ssl_ca_cert:
        options["ca_certs"] = configuration.ssl_ca_cert
    if configuration.cert_file:
        options["certfile"] = configuration.cert_file
    if configuration.key_file:
        options["keyfile"] = configuration.key_file
    if getattr(configuration, "tls_server_name", None):
        options["server_hostname"] = configuration.tls_server_name
    return options
