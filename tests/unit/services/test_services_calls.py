"""Sample service routing: --direct parsing, mesh vs no-mesh targets, OTLP URL; reading a
callee's answer; writing our own."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from mesh_runtime.services.app import ShopService, answer_payload
from mesh_runtime.services.behaviour import padded_body
from mesh_runtime.services.calls import (
    AnswerReader,
    CallResult,
    Downstream,
    Targets,
    _answer_of,
    parse_direct,
)
from mesh_runtime.services.tracing import ServiceIdentity, ServiceTracer, traces_url


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


_TEXTS = ["b", "inventory-0", "", 'q"uote', "back\\slash", "é", "\u2028", "tab\t", "\x7f", "~ !"]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_TEXTS) for _ in range(rng.randint(0, 3)))


def _value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON-able value, as a callee's answer may hold."""
    kind = rng.randint(0, 8 if depth < 2 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False, 0, -7, 2**70])
    if kind == 2:
        return rng.choice([0.0, -0.0, 1e-7, 1e300, 0.1 + 0.2, float("nan"), float("inf")])
    if kind <= 5:
        return _text(rng)
    if kind <= 7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {_text(rng): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _call(rng: random.Random) -> CallResult:
    return CallResult(
        _text(rng) or "cart",
        rng.choice([0, 200, 503]),
        rng.choice([rng.uniform(0, 5000), 2.5, 0.0005, float("inf"), float("nan")]),
        instance=rng.choice([None, _text(rng), _value(rng)]),
        error=rng.choice([None, "timeout", _text(rng)]),
        calls=rng.choice([None, [], _value(rng), [{"service": "c", "ms": 0.123, "calls": []}]]),
        grpc_status=rng.choice([None, 0, 14]),
    )


def test_an_answer_is_written_as_the_encoder_writes_its_payload() -> None:
    """A shop answer (each call's json_text under the instance's pre-encoded head, extra
    fields, padding) is byte for byte padded_body(answer_payload(...)): random call trees
    with plain and escaped strings, non-string instances, bools, NaN and infinities,
    nested calls."""
    rng = random.Random(17)
    for identity in (ServiceIdentity("a", "a-0", "v1"), ServiceIdentity('é"', "\\", "")):
        downstream = Downstream(Targets(None, {}), 10.0)
        service = ShopService(identity, [], downstream, ServiceTracer(identity, None))
        for _ in range(500):
            results = [_call(rng) for _ in range(rng.randint(0, 3))]
            extra = rng.choice([{}, {"error": _text(rng)}, {"failed": "b", "error": _text(rng)}])
            size = rng.choice([0, 0, rng.randint(0, 600)])
            expected = padded_body(answer_payload(identity, results, **extra), size)
            assert service._body(size, results, **extra) == expected


def test_a_repeated_answer_is_read_once_and_its_calls_are_never_shared() -> None:
    """The reader gives what _answer_of does for every answer, repeats included (a leaf
    answers the same bytes each time), with a fresh call list each time."""
    reader = AnswerReader()
    leaf = b'{"service":"b","instance":"b-0","version":"v1","calls":[]}'
    payloads = [leaf, leaf, b'{"instance":"c-0","calls":[{"service":"d"}]}', leaf, b"{", leaf]
    payloads += [b'{"instance":5,"calls":[]}', b'{"instance":5,"calls":[]}', b'{"calls":[]}', b""]
    seen = []
    for payload in payloads:
        answer = _answer_of(payload)
        instance, calls = reader.read(payload)
        assert (instance, calls) == (answer.get("instance"), answer.get("calls"))
        if calls is not None:
            assert all(calls is not other for other in seen)
            seen.append(calls)
