"""OTLP trace export requests -> flat span records (the run directory's spans table).

Pure: bytes in, dicts out. Handles OTLP/HTTP protobuf and OTLP/HTTP JSON (whose trace
and span ids are hex strings, not protobuf JSON's base64).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class BadExport(ValueError):
    """A body that is not a valid OTLP trace export request."""


def spans_from_request(request: ExportTraceServiceRequest) -> list[dict[str, Any]]:
    """One record per span: ids as lowercase hex, kind and status as names, attributes as a
    dict, service and instance from the resource's service.name / service.instance.id."""
    out: list[dict[str, Any]] = []
    for resource_spans in request.resource_spans:
        service, instance = _identity(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            out.extend(_record(span, service, instance) for span in scope_spans.spans)
    return out


def request_from_protobuf(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise BadExport(f"not an OTLP protobuf ExportTraceServiceRequest: {exc}") from None
    return request


def request_from_json(body: bytes) -> ExportTraceServiceRequest:
    """OTLP/HTTP JSON: hex ids are turned into protobuf JSON's base64 before parsing."""
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise BadExport("expected a JSON object with resourceSpans")
        for holder in _id_holders(document):
            for key in _ID_FIELDS:
                if isinstance(holder.get(key), str):
                    holder[key] = _hex_to_base64(holder[key])
        return json_format.ParseDict(
            document, ExportTraceServiceRequest(), ignore_unknown_fields=True
        )
    except (ValueError, json_format.ParseError) as exc:
        if isinstance(exc, BadExport):
            raise
        raise BadExport(f"not an OTLP JSON ExportTraceServiceRequest: {exc}") from None


def _id_holders(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every span and span link object of an OTLP JSON document."""
    for resource_spans in _list(document, "resourceSpans", "resource_spans"):
        for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
            for span in _list(scope_spans, "spans"):
                if isinstance(span, dict):
                    yield span
                    yield from (link for link in _list(span, "links") if isinstance(link, dict))


def _list(obj: Any, *keys: str) -> list[Any]:
    if not isinstance(obj, dict):
        return []
    for key in keys:
        value = obj.get(key)
        if isinstance(value, list):
            return value
    return []


def _hex_to_base64(value: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise BadExport(f"expected a hex trace or span id, got {value!r}") from None


def _identity(resource: Resource) -> tuple[str, str]:
    attributes = _attributes(resource.attributes)
    return str(attributes.get("service.name", "")), str(attributes.get("service.instance.id", ""))


def _record(span: Span, service: str, instance: str) -> dict[str, Any]:
    kind = span.kind
    status = span.status.code
    return {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex(),
        "name": span.name,
        "kind": _SPAN_KINDS.get(kind) or str(kind),
        "service": service,
        "instance": instance,
        "start_ns": span.start_time_unix_nano,
        "end_ns": span.end_time_unix_nano,
        "status_code": _STATUS_CODES.get(status) or str(status),
        "attributes": _attributes(span.attributes),
    }


def _enum_names(enum: Any, prefix: str) -> dict[int, str]:
    """{1: 'INTERNAL', 2: 'SERVER', ...} from SPAN_KIND_*; an unknown number (open enums)
    is written as its digits."""
    return {number: str(name).removeprefix(prefix) for name, number in enum.items()}


# Looked up per span: protobuf's `Name()` costs more than the rest of a record's fields.
_SPAN_KINDS = _enum_names(Span.SpanKind, "SPAN_KIND_")
_STATUS_CODES = _enum_names(Status.StatusCode, "STATUS_CODE_")


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":  # most attributes
        return value.string_value
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return binascii.hexlify(value.bytes_value).decode()
    return getattr(value, kind)
