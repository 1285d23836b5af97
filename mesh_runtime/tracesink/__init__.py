"""The OTLP/HTTP trace sink: receives every span of a run and appends it to a JSON lines file.

`spans_from_request` is the pure decoder; `server` is the aiohttp receiver.
"""

from mesh_runtime.tracesink.decode import (
    BadExport,
    request_from_json,
    request_from_protobuf,
    spans_from_request,
)

__all__ = ["BadExport", "request_from_json", "request_from_protobuf", "spans_from_request"]
