"""Sample service routing: --direct parsing, mesh vs no-mesh targets, OTLP URL; reading a
callee's answer."""

from __future__ import annotations

import json

import pytest

from mesh_runtime.services.calls import CallResult, Targets, _answer_of, parse_direct
from mesh_runtime.services.tracing import traces_url


def test_parse_direct_accepts_repeats_and_semicolons() -> None:
    """Each service gets its list of addresses, from repeated flags or ';'-joined parts."""
    parsed = parse_direct(
        ["catalog=127.0.0.1:1001,127.0.0.1:1002", "cart=127.0.0.1:1003;inventory=[::1]:1004"]
    )
    assert parsed == {
        "catalog": ["127.0.0.1:1001", "127.0.0.1:1002"],
        "cart": ["127.0.0.1:1003"],
        "inventory": ["[::1]:1004"],
    }


@pytest.mark.parametrize(
    "value", ["catalog", "=127.0.0.1:1", "catalog=", "catalog=127.0.0.1", "catalog=host:99999"]
)
def test_parse_direct_rejects_malformed_values(value: str) -> None:
    """A value without service, address or a valid port is a ValueError naming it."""
    with pytest.raises(ValueError, match="expected"):
        parse_direct([value])


def test_direct_targets_round_robin_without_host_header() -> None:
    """No-mesh mode calls the instances themselves in turn."""
    targets = Targets(None, {"catalog": ["127.0.0.1:1", "127.0.0.1:2"]})
    assert targets.route("catalog") == ("127.0.0.1:1", None)
    assert targets.route("catalog") == ("127.0.0.1:2", None)
    assert targets.missing(["catalog", "cart"]) == ["cart"]


def test_via_target_names_the_service_in_the_host_header() -> None:
    """Mesh mode sends every call to the sidecar outbound with Host: <service>."""
    targets = Targets("127.0.0.1:15001", {})
    assert targets.route("cart") == ("127.0.0.1:15001", "cart")
    assert targets.missing(["cart", "catalog"]) == []


def test_call_result_ok_and_json() -> None:
    """2xx/3xx are ok; no answer (status 0) and 5xx are not; JSON omits empty fields."""
    assert CallResult("cart", 200, 1.0).ok
    assert not CallResult("cart", 503, 1.0).ok
    failed = CallResult("cart", 0, 2.5, error="timeout")
    assert not failed.ok
    assert failed.as_json() == {"service": "cart", "status": 0, "ms": 2.5, "error": "timeout"}


def test_traces_url_appends_the_otlp_path_to_a_base_url() -> None:
    """A base URL gets /v1/traces; a full URL is kept; a non-URL is rejected."""
    assert traces_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert traces_url("http://127.0.0.1:4318/") == "http://127.0.0.1:4318/v1/traces"
    assert traces_url("http://127.0.0.1:9/v1/traces") == "http://127.0.0.1:9/v1/traces"
    with pytest.raises(ValueError):
        traces_url("127.0.0.1:4318")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"instance":"b-0","calls":[{"service":"c"}]}',
        b'{"a":1} \t\r\n',
        b'{"a":1} x',
        b'{"a":1}{"b":2}',
        b'{"a":1}\x0c',
        b'{"a":"\xff"}',
        b'{"a":"\xc3\xa9\\ud800"}',
        '{"a":1}'.encode("utf-16-le"),
        '{"a":1}'.encode("utf-32-le"),
        b"{",
        b"[1]",
    ],
)
def test_a_callee_answer_is_read_as_json_loads_reads_it(payload: bytes) -> None:
    """The call tree is taken from an answer exactly when json.loads makes an object of it
    (trailing JSON whitespace only; UTF-8, or UTF-16 / 32 found as json.loads finds it)."""
    try:
        expected = json.loads(payload)
    except ValueError:
        expected = {}
    assert _answer_of(payload) == (expected if isinstance(expected, dict) else {})
