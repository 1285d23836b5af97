"""An export's Content-Encoding undone, capped and checked to its end, without sockets."""

from __future__ import annotations

import gzip
import zlib

import pytest

from mesh_runtime.content_encoding import TooLarge, Undecodable, undo_encoding

DATA = b"spans " * 100


def _deflate(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (DATA, ""),
        (DATA, "identity"),
        (gzip.compress(DATA), "gzip"),
        (_deflate(DATA, zlib.MAX_WBITS), "deflate"),
        (_deflate(DATA, -zlib.MAX_WBITS), "deflate"),
    ],
)
def test_each_encoding_is_undone(body: bytes, encoding: str) -> None:
    """identity as it is; gzip; deflate zlib-wrapped (RFC 9110) or raw."""
    assert undo_encoding(body, encoding, 1 << 20) == DATA


@pytest.mark.parametrize(
    ("body", "encoding", "problem"),
    [
        (DATA, "gzip", "not gzip data"),
        (gzip.compress(DATA)[:-4], "gzip", "ends before its end"),
        (gzip.compress(DATA) + b"junk", "gzip", "4 bytes after the gzip stream"),
        (b"\x0a\x00" * 50, "deflate", "not deflate data"),
    ],
)
def test_a_body_that_is_not_its_encoding_is_refused(
    body: bytes, encoding: str, problem: str
) -> None:
    """Not the encoding, cut short, or followed by more: refused with why."""
    with pytest.raises(Undecodable, match=problem):
        undo_encoding(body, encoding, 1 << 20)


def test_the_decoded_size_is_capped_as_it_is_produced() -> None:
    """A body that decodes past the limit is refused without decoding it whole."""
    bomb = gzip.compress(bytes(1 << 24))
    with pytest.raises(TooLarge, match="over 1048576 bytes"):
        undo_encoding(bomb, "gzip", 1 << 20)
    assert undo_encoding(gzip.compress(bytes(1 << 20)), "gzip", 1 << 20) == bytes(1 << 20)
