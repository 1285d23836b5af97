"""The shop's TCP key-value store and a service's call to it, without sockets."""

from __future__ import annotations

import pytest

from mesh_runtime.services import kv
from mesh_runtime.services.calls import Targets
from mesh_runtime.services.kv import MAX_KEY, KvStore
from mesh_runtime.services.tcp_call import kv_key, kv_outcome, kv_script


def test_set_get_del_ping() -> None:
    """SET stores, GET reads, DEL removes, PING names the instance."""
    store = KvStore("kv-1")
    assert store.execute("SET /a hello world") == "OK"
    assert store.execute("GET /a\n") == "VALUE hello world"
    assert store.execute("DEL /a") == "OK"
    assert store.execute("GET /a") == "NOTFOUND"
    assert store.execute("DEL /a") == "NOTFOUND"
    assert store.execute("ping") == "PONG kv-1"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("GET", "ERROR GET needs a key"),
        ("FLY away", "ERROR unknown command 'FLY'"),
        ("SET " + "k" * 300 + " v", "ERROR key longer than 256 bytes"),
    ],
)
def test_bad_commands_get_an_error_line(line: str, reply: str) -> None:
    """A bad command is answered with one ERROR line; the store goes on."""
    assert KvStore("kv-0").execute(line) == reply


def test_a_call_is_ok_only_with_all_three_replies() -> None:
    """OK, the value back and PONG make a 200 naming the instance; anything less is 502."""
    assert kv_script("/k", "v") == b"SET /k v\nGET /k\nPING\n"
    assert kv_outcome(["OK", "VALUE v", "PONG kv-1"], "v") == (200, "kv-1", None)
    status, instance, error = kv_outcome(["OK", "VALUE w", "PONG kv-1"], "v")
    assert (status, instance) == (502, None) and error is not None
    assert kv_outcome(["OK"], "v")[0] == 502


def test_a_long_path_is_a_key_the_store_takes() -> None:
    """A path over MAX_KEY bytes (any HTTP path may be) keys its start and a digest of the
    whole, so a shop call with it is a 200, not an ERROR the mesh did not cause; two long
    paths with one start key apart."""
    store = KvStore("kv-0")
    long_a, long_b = "/" + "é" * 300 + "a", "/" + "é" * 300 + "b"
    script = kv_script(long_a, "v").decode().splitlines()
    assert [store.execute(line) for line in script] == ["OK", "VALUE v", "PONG kv-0"]
    assert len(kv_key(long_a).encode()) <= MAX_KEY
    assert kv_key(long_a) != kv_key(long_b)
    assert kv_key("/short") == "/short"


def test_the_store_keeps_at_most_max_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_KEYS a SET of a new key drops the one set longest ago; a key set again is
    the newest."""
    monkeypatch.setattr(kv, "MAX_KEYS", 2)
    store = KvStore("kv-0")
    for key in ("/a", "/b", "/a", "/c"):
        store.execute(f"SET {key} v")
    assert [store.execute(f"GET {key}") for key in ("/a", "/b", "/c")] == [
        "VALUE v",
        "NOTFOUND",
        "VALUE v",
    ]


def test_tcp_callees_have_their_own_addresses() -> None:
    """A --tcp callee rotates over its addresses; HTTP callees have none; it is not missing."""
    targets = Targets(None, {"catalog": ["127.0.0.1:1"]}, {"kv": ["127.0.0.1:2", "127.0.0.1:3"]})
    assert [targets.tcp("kv") for _ in range(3)] == ["127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:2"]
    assert targets.tcp("catalog") is None
    assert targets.missing(["catalog", "kv", "cart"]) == ["cart"]


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_an_idle_timeout_that_is_no_positive_number_is_refused(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--idle-timeout takes a positive, finite number of seconds; anything else is a usage
    error (exit 2) that names the flag; the default is IDLE_TIMEOUT_S."""
    base = ["--instance", "kv-0", "--port", "1"]
    assert kv.build_parser().parse_args(base).idle_timeout == kv.IDLE_TIMEOUT_S
    with pytest.raises(SystemExit) as caught:
        kv.build_parser().parse_args([*base, "--idle-timeout", value])
    assert caught.value.code == 2
    assert "--idle-timeout" in capsys.readouterr().err
