"""What every stage that decodes or writes images shares: the largest image it decodes, and the one
PNG encoder (readers that decode DICOM, NIfTI or arrays, the synthetic source, ingest's re-encoding)."""

from __future__ import annotations

import struct
import zlib

import numpy as np

# Larger inputs are refused before decoding (a 20k x 20k PNG of zeros is a few hundred kB).
# Below Pillow's own limit (89M), so this check is the one that fires.
MAX_PIXELS = 64_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEEP = {b"IHDR", b"IDAT", b"IEND"}


def png_critical_chunks(data: bytes) -> bytes | None:
    """The PNG with every chunk but IHDR, IDAT and IEND removed, if it is an 8-bit grayscale or
    RGB PNG (colour types 0 and 2); None otherwise (palette, alpha, 16-bit: those get re-encoded)."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or data[24] != 8 or data[25] not in (0, 2):
        return None
    out, pos = [PNG_SIGNATURE], len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, end = data[pos + 4:pos + 8], pos + 12 + length
        if kind in _PNG_KEEP:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            return b"".join(out)
    return None


def encode_png(pixels: np.ndarray) -> bytes:
    """8-bit L (H, W) or RGB (H, W, 3) pixels as a PNG: every row Up-filtered, then deflated with
    Z_RLE. Several times faster than Pillow's per-row filter search and default deflate, and as
    small on scans and photographs, whose noise defeats long-distance matches anyway. H x W x 1 is
    taken as grayscale; other shapes and dtypes are refused."""
    if pixels.dtype != np.uint8:
        raise ValueError(f"encode_png needs uint8 pixels, got {pixels.dtype}")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
        raise ValueError(f"cannot encode an array of shape {pixels.shape} as an image")
    h, w = pixels.shape[:2]
    rows = pixels.reshape(h, -1)
    filtered = np.empty((h, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = 2  # filter type Up; above the first row PNG assumes zeros
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 wraps modulo 256, as PNG does
    z = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
    idat = z.compress(filtered) + z.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0 if pixels.ndim == 2 else 2, 0, 0, 0)
    return b"".join((PNG_SIGNATURE, _png_chunk(b"IHDR", ihdr), _png_chunk(b"IDAT", idat), _png_chunk(b"IEND", b"")))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))
