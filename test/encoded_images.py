"""Hand-made encoded images for the decoding limits: valid files that are tiny on disk and huge decoded."""

from __future__ import annotations

import struct
import zlib


def png_of_zeros(width: int, height: int) -> bytes:
    """A valid 8-bit grey PNG of width x height black pixels: its rows of zeros compress to almost nothing."""
    raw_rows = zlib.compress(b"\x00" * (width + 1) * height, 9)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw_rows) + chunk(b"IEND", b"")
