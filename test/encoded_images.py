"""Hand-made encoded images for the decoding limits: valid files that are tiny on disk and huge decoded."""

from __future__ import annotations

import struct
import zlib


def _png(width: int, height: int, raw_rows: bytes) -> bytes:
    """An 8-bit grey PNG whose header says width x height, with raw_rows as its compressed pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw_rows) + chunk(b"IEND", b"")


def png_of_zeros(width: int, height: int) -> bytes:
    """A valid 8-bit grey PNG of width x height black pixels: its rows of zeros compress to almost nothing."""
    return _png(width, height, zlib.compress(b"\x00" * (width + 1) * height, 9))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height but holds no pixels: only its header can be read."""
    return _png(width, height, zlib.compress(b""))
