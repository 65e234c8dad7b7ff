"""Decode any input image into one canonical form, and fingerprint its pixels.

Canonical form: EXIF orientation applied; 8-bit "L" (grayscale, also for RGB images whose three
channels are equal) or "RGB"; alpha composited onto black; 16-bit and 32-bit images windowed
from their own min..max to 0..255; downscaled to `max_side` keeping aspect; re-encoded (which
also drops every metadata chunk). Two lossless encodings of the same pixels give the same
`pixel_sha256`; a lightly edited copy gives a `phash` within a few bits.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from assets.shared.images import MAX_PIXELS, encode_png, png_critical_chunks
from assets.sources.readers.burned_in_text import suspected_detail, text_bands

OUTPUT_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_SAVE_OPTIONS = {"jpeg": {"quality": 95}, "webp": {"lossless": True}}  # PNG: encode_png


class ImageRejected(Exception):
    """Input that cannot become a sample. `reason` is a short code counted in quarantine stats:
    empty, not_an_image, corrupt, decompression_bomb, zero_size, burned_in_text_suspected."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class NormalizedImage:
    image_bytes: bytes
    image_format: str  # "png" | "jpeg" | "webp"
    width: int
    height: int
    mode: str  # "L" | "RGB"
    pixel_sha256: str  # of mode, size and the decoded normalized pixels
    phash: int  # 64-bit DCT perceptual hash as signed int64
    pixel_mean: float  # of the 8-bit grayscale image
    pixel_std: float
    source_format: str = ""  # what the input was
    source_mode: str = ""
    source_width: int = 0
    source_height: int = 0


def normalize_image(data: bytes, *, max_side: int = 512, output_format: str = "png",
                    search_text: bool = False) -> NormalizedImage:
    """Decode `data`, bring it to canonical form and encode it as `output_format`. `search_text`: the
    canonical pixels, before any downscaling shrinks the glyphs, are searched for burned-in text in
    their border bands (burned_in_text.text_bands), and an image with some is rejected as
    burned_in_text_suspected."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {sorted(OUTPUT_FORMATS)}, not {output_format!r}")
    decoded, src_format, src_mode = _decode(data)
    src_w, src_h = decoded.size
    im = _canonical_mode(decoded)
    bands = text_bands(np.asarray(im)) if search_text else []
    if bands:
        raise ImageRejected("burned_in_text_suspected", suspected_detail(bands))
    if max(im.size) > max_side:
        scale = max_side / max(im.size)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    pixels = np.asarray(im)
    # An 8-bit gray/RGB PNG whose pixels we did not touch keeps its image data; only its
    # metadata chunks go, and no time is spent re-encoding it.
    encoded = png_critical_chunks(data) if im is decoded and output_format == "png" else None
    if encoded is None and output_format == "png":
        encoded = encode_png(pixels)
    elif encoded is None:
        buf = io.BytesIO()
        im.info = {}  # no ICC profile, text or EXIF carried into the output
        im.save(buf, format=OUTPUT_FORMATS[output_format], **_SAVE_OPTIONS[output_format])
        encoded = buf.getvalue()
    gray = im if im.mode == "L" else im.convert("L")
    g = pixels if im.mode == "L" else np.asarray(gray)  # uint8: numpy sums it exactly in float64
    return NormalizedImage(
        image_bytes=encoded, image_format=output_format,
        width=im.width, height=im.height, mode=im.mode,
        pixel_sha256=pixel_sha256(pixels, im.mode), phash=phash(gray),
        pixel_mean=float(g.mean()), pixel_std=float(g.std()),
        source_format=src_format, source_mode=src_mode, source_width=src_w, source_height=src_h,
    )


def _decode(data: bytes) -> tuple[Image.Image, str, str]:
    if not data:
        raise ImageRejected("empty", "0 bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            fmt, mode = (im.format or "").lower(), im.mode
            if im.width <= 0 or im.height <= 0:
                raise ImageRejected("zero_size", f"{im.width}x{im.height}")
            if im.width * im.height > MAX_PIXELS:
                raise ImageRejected("decompression_bomb", f"{im.width}x{im.height} > {MAX_PIXELS} pixels")
            im.seek(0)  # first frame of a multi-frame file
            im.load()
            if im.getexif().get(_ORIENTATION, 1) != 1:
                im = ImageOps.exif_transpose(im)
    except ImageRejected:
        raise
    except UnidentifiedImageError:
        raise ImageRejected("not_an_image", f"unrecognised format, starts with {data[:8]!r}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageRejected("decompression_bomb", str(e)) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as e:
        raise ImageRejected("corrupt", f"{type(e).__name__}: {e}") from None
    return im, fmt, mode


_ORIENTATION = 0x0112



def _canonical_mode(im: Image.Image) -> Image.Image:
    """8-bit L or RGB; alpha composited onto black; deep images windowed to their own range."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_window(np.asarray(im)), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        im = im.convert("RGBA")
        black = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, im).convert("RGB")
    if im.mode == "1":
        im = im.convert("L")
    elif im.mode not in ("L", "RGB"):
        im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, ...
    if im.mode == "RGB":
        a = np.asarray(im)
        if np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 1], a[..., 2]):
            return Image.fromarray(np.ascontiguousarray(a[..., 0]), "L")
    return im


def _window(a: np.ndarray) -> np.ndarray:
    """`a` mapped linearly from its own min..max onto 0..255, rounded to nearest."""
    lo, hi = a.min(), a.max()
    if not hi > lo:  # constant, or NaN in a float image
        return np.zeros(a.shape, np.uint8)
    scale = 255.0 / (float(hi) - float(lo))
    if a.dtype.kind in "iu" and int(hi) - int(lo) < 1 << 16:
        # Integers (16-bit scans): the same formula, evaluated once per possible value.
        lut = np.rint(np.arange(int(hi) - int(lo) + 1, dtype=np.float64) * scale).astype(np.uint8)
        return np.take(lut, a - lo)
    return np.rint((a.astype(np.float64) - float(lo)) * scale).astype(np.uint8)


def pixel_sha256(pixels: np.ndarray, mode: str) -> str:
    """sha256 of mode, shape and raw 8-bit pixels: independent of how the file was encoded."""
    h = hashlib.sha256(f"{mode}:{'x'.join(map(str, pixels.shape))}:".encode())
    h.update(np.ascontiguousarray(pixels).tobytes())
    return h.hexdigest()


def _dct_matrix(n: int) -> np.ndarray:
    """Unnormalised DCT-II (scipy.fftpack.dct's default): X_k = 2 sum_n x_n cos(pi k (2n+1) / 2N)."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * i + 1) / (2 * n))


_DCT32 = _dct_matrix(32)
_COEFFICIENT_DECIMALS = 6


def phash(image: Image.Image) -> int:
    """64-bit perceptual hash as imagehash.phash computes it (32x32 LANCZOS grayscale, 2-D DCT,
    top-left 8x8 coefficients above their median), packed row-major, first bit most significant,
    returned as a signed int64 so it fits Parquet and DuckDB BIGINT."""
    small = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    # Rounded so that the bits do not depend on the BLAS kernel: an image symmetric along an axis
    # (flat bars, a centred disc) has low-frequency coefficients that are exactly zero, and the matrix
    # product leaves them at +-1e-13 with a sign set by the CPU's summation order, which flipped up to
    # 56 of the 64 bits between OpenBLAS kernels. Meaningful coefficients differ by far more than 1e-6.
    low = np.round((_DCT32 @ small @ _DCT32.T)[:8, :8], _COEFFICIENT_DECIMALS)
    bits = (low > np.median(low)).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big", signed=True)


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes (signed or unsigned)."""
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()
