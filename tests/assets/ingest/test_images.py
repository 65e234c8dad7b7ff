"""normalize_image: canonical modes, orientation, size, pixel hash, perceptual hash, rejection;
and its PNG encoder and 16-bit windowing against plain references."""

from __future__ import annotations

import io
import os
import platform
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from assets.ingest.images import ImageRejected, _window, hamming, normalize_image, phash
from assets.shared.images import MAX_PIXELS, encode_png
from assets.sources.synthetic import draw_class


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return draw_class("fundus", 1, 1, 96, np.random.default_rng(0))[0]


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    return draw_class("xray", 0, 1, 96, np.random.default_rng(0))[0]


@pytest.mark.parametrize("fmt,kw", [
    ("WEBP", {"lossless": True}), ("TIFF", {}), ("TIFF", {"compression": "tiff_lzw"}), ("BMP", {}),
])
def test_same_pixels_in_lossless_encodings_hash_equal(rgb, fmt, kw):
    ref = normalize_image(encode(Image.fromarray(rgb), "PNG"))
    other = normalize_image(encode(Image.fromarray(rgb), fmt, **kw))
    assert other.pixel_sha256 == ref.pixel_sha256 and other.phash == ref.phash
    assert np.array_equal(decode(other.image_bytes), rgb)


def test_gray_stored_as_rgb_is_gray(gray):
    as_l = normalize_image(encode(Image.fromarray(gray), "PNG"))
    as_rgb = normalize_image(encode(Image.fromarray(gray).convert("RGB"), "PNG"))
    assert as_l.mode == as_rgb.mode == "L"
    assert as_l.pixel_sha256 == as_rgb.pixel_sha256


def test_one_pixel_changed_changes_pixel_hash_not_phash(gray):
    edited = gray.copy()
    edited[10, 10] ^= 1
    a = normalize_image(encode(Image.fromarray(gray), "PNG"))
    b = normalize_image(encode(Image.fromarray(edited), "PNG"))
    assert a.pixel_sha256 != b.pixel_sha256
    assert hamming(a.phash, b.phash) <= 2


def test_palette_with_transparency_composites_on_black():
    im = Image.new("P", (8, 8), 0)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    im.paste(1, (0, 0, 4, 8))
    im.info["transparency"] = 1  # green half transparent
    out = decode(normalize_image(encode(im, "PNG")).image_bytes)
    assert out.shape == (8, 8, 3)
    assert (out[:, :4] == 0).all() and (out[:, 4:] == [255, 0, 0]).all()


def test_rgba_and_la_composite_on_black():
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., :3] = 200
    a[:, :2, 3] = 255  # left half opaque, right half transparent
    n = normalize_image(encode(Image.fromarray(a, "RGBA"), "PNG"))
    assert n.mode == "L"  # grey RGB collapses to L
    assert (decode(n.image_bytes) == np.array([[200, 200, 0, 0]] * 4)).all()
    la = Image.fromarray(a[..., [0, 3]], "LA")
    assert (decode(normalize_image(encode(la, "PNG")).image_bytes) == np.array([[200, 200, 0, 0]] * 4)).all()


def test_cmyk_becomes_rgb():
    im = Image.new("CMYK", (5, 5), (0, 255, 255, 0))  # pure red in CMYK
    n = normalize_image(encode(im, "TIFF"))
    assert n.mode == "RGB"
    assert (decode(n.image_bytes) == [255, 0, 0]).all()


@pytest.mark.parametrize("dtype,lo,hi", [
    (np.uint16, 0, 4095), (np.uint16, 300, 65535), (np.int32, -1024, 3071), (np.int32, -10**6, 10**6),
    (np.float32, -1.5, 2.5), (np.uint16, 700, 700),
])
def test_window_matches_the_float_formula(dtype, lo, hi):
    a = np.random.default_rng(0).uniform(lo, hi, (37, 53)).astype(dtype)
    f = a.astype(np.float64)
    span = f.max() - f.min()
    expected = np.rint((f - f.min()) * (255.0 / span)).astype(np.uint8) if span else np.zeros(f.shape, np.uint8)
    assert np.array_equal(_window(a), expected)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (5, 3, 3), (64, 33), (40, 31, 3)])
def test_png_encoder_round_trips_with_valid_chunks(shape):
    a = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    a[: shape[0] // 2] //= 16  # some runs as well as noise
    data = encode_png(a)
    assert np.array_equal(decode(data), a)
    pos, kinds = 8, []
    while pos < len(data):  # Pillow does not check the IDAT checksum: check every chunk's here
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body, crc = data[pos + 8:pos + 8 + length], data[pos + 8 + length:pos + 12 + length]
        assert struct.unpack(">I", crc)[0] == zlib.crc32(kind + body)
        kinds.append(kind)
        pos += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


@pytest.mark.parametrize("dtype,mode,fmt", [
    (np.uint16, "I;16", "PNG"), (np.int32, "I", "TIFF"), (np.float32, "F", "TIFF"),
])
def test_deep_images_are_windowed_to_8_bit(dtype, mode, fmt):
    ramp = (np.arange(64, dtype=np.float64).reshape(8, 8) * 1000 + 300).astype(dtype)
    im = Image.fromarray(ramp)
    assert im.mode == mode
    n = normalize_image(encode(im, fmt))
    out = decode(n.image_bytes)
    assert n.mode == "L" and out.dtype == np.uint8
    assert out.min() == 0 and out.max() == 255
    assert (np.diff(out.ravel().astype(int)) > 0).all()  # order kept


def test_exif_orientation_is_applied():
    a = np.full((20, 40, 3), 30, np.uint8)
    a[:10, :10] = 250  # bright block top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    n = normalize_image(encode(Image.fromarray(a), "JPEG", quality=95, exif=exif.tobytes()))
    out = decode(n.image_bytes)
    assert (n.width, n.height) == (20, 40)
    assert out[:10, -10:].mean() > 200 and out[-10:, :10].mean() < 80  # now top-right


def test_downscale_keeps_aspect():
    n = normalize_image(encode(Image.new("RGB", (1000, 500), (10, 20, 30)), "PNG"), max_side=256)
    assert (n.width, n.height) == (256, 128)
    assert (n.source_width, n.source_height) == (1000, 500)


def test_metadata_is_dropped(gray):
    info = PngImagePlugin.PngInfo()
    info.add_text("PatientName", "DOE^JANE")
    data = encode(Image.fromarray(gray), "PNG", pnginfo=info)
    n = normalize_image(data)
    assert b"DOE^JANE" in data and b"DOE^JANE" not in n.image_bytes
    assert np.array_equal(decode(n.image_bytes), gray)
    jpeg = normalize_image(encode(Image.fromarray(gray), "JPEG", comment=b"DOE^JANE"))
    assert b"DOE^JANE" not in jpeg.image_bytes


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_output_formats(rgb, fmt):
    n = normalize_image(encode(Image.fromarray(rgb), "PNG"), output_format=fmt)
    with Image.open(io.BytesIO(n.image_bytes)) as im:
        assert im.format.lower() == fmt and im.size == (96, 96)
    with pytest.raises(ValueError):
        normalize_image(encode(Image.fromarray(rgb), "PNG"), output_format="gif")


def test_pixel_stats(gray):
    n = normalize_image(encode(Image.fromarray(gray), "PNG"))
    assert n.pixel_mean == pytest.approx(gray.mean()) and n.pixel_std == pytest.approx(gray.std())


def _reference_phash(image: Image.Image) -> int:
    """imagehash.phash written out naively: explicit DCT-II sums, no matrices; coefficients exact to
    1e-6 (the float noise of a coefficient that is zero in exact arithmetic is no signal)."""
    x = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    n = np.arange(32)
    coef = np.array([[sum(x[i, j] * np.cos(np.pi * u * (2 * i + 1) / 64) * np.cos(np.pi * v * (2 * j + 1) / 64)
                          for i in range(32) for j in n) * 4 for v in range(8)] for u in range(8)]).round(6)
    bits = "".join("1" if c > np.median(coef) else "0" for c in coef.ravel())
    value = int(bits, 2)
    return value - (1 << 64) if value >= 1 << 63 else value


def test_phash_matches_naive_dct(gray):
    im = Image.fromarray(gray)
    assert phash(im) == _reference_phash(im)


def mirrored_bars() -> Image.Image:
    """Colour bars symmetric about the vertical axis (as in DICOM test images such as SC_rgb): every
    coefficient of odd horizontal frequency is exactly zero, so their bits are ties, not signal."""
    bars = np.repeat(np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]], np.uint8), 12, axis=0)
    row = np.concatenate([bars, bars[::-1]])
    return Image.fromarray(np.broadcast_to(row, (60, *row.shape)).copy(), "RGB")


def test_phash_of_a_symmetric_image_matches_the_naive_dct():
    # Summed in another order, the zero coefficients come out with other signs: unrounded, the two
    # hashes differed in up to 56 bits.
    im = mirrored_bars()
    assert phash(im) == _reference_phash(im)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="OpenBLAS kernel names are x86_64's")
def test_phash_does_not_depend_on_the_blas_kernel():
    """The same image hashed with OpenBLAS's SSE3 and AVX2 matrix kernels (OPENBLAS_CORETYPE, read
    when numpy loads): the CPU a hash was computed on must not move an image between clusters."""
    code = ("import sys; from tests.assets.ingest.test_images import mirrored_bars; "
            "from assets.ingest.images import phash; print(phash(mirrored_bars()))")
    root = Path(__file__).resolve().parents[3]
    hashes = {kernel: subprocess.run([sys.executable, "-c", code], cwd=root, check=True, capture_output=True, text=True,
                                     env=dict(os.environ, OPENBLAS_CORETYPE=kernel, PYTHONPATH=str(root))).stdout
              for kernel in ("Prescott", "Haswell")}
    assert len(set(hashes.values())) == 1, hashes


def test_phash_matches_imagehash():
    """Known answer: imagehash 4.3.2 gives phash 'f00bf0f10ff40cf4' for this image."""
    y, x = np.mgrid[0:64, 0:96]
    a = 128 + 60 * np.sin(x / 9.0) * np.cos(y / 7.0) + 40 * ((x // 16 + y // 16) % 2)
    value = phash(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L"))
    assert format(value & (2**64 - 1), "016x") == "f00bf0f10ff40cf4"
    assert value < 0  # top bit set: stored as a negative int64


def test_phash_near_for_edited_copy_far_for_other_images():
    images = [draw_class(m, k, 1, 128, np.random.default_rng(5))[0]
              for m, k in (("xray", 1), ("ct", 3), ("mri", 0), ("ultrasound", 2), ("pathology", 3), ("fundus", 2))]
    hashes = [normalize_image(encode(Image.fromarray(a), "PNG")).phash for a in images]
    for a, h in zip(images, hashes):
        brighter = np.clip(a.astype(int) + 12, 0, 255).astype(np.uint8)
        edited = Image.fromarray(brighter).resize((100, 100), Image.Resampling.BILINEAR)
        assert hamming(h, normalize_image(encode(edited, "JPEG", quality=85)).phash) <= 6
    far = [hamming(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1:]]
    assert min(far) > 12, far


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("name,data,reason", [
    ("empty", b"", "empty"),
    ("text", b"patient list\nDOE^JANE\n", "not_an_image"),
    ("pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "not_an_image"),
    ("bomb", _png_header_only(20_000, 20_000), "decompression_bomb"),
    ("corrupt_idat", _png_header_only(64, 64), "corrupt"),
])
def test_rejections(name, data, reason):
    assert 20_000 * 20_000 > MAX_PIXELS
    with pytest.raises(ImageRejected) as e:
        normalize_image(data)
    assert e.value.reason == reason


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_files_are_rejected(rgb, fmt):
    data = encode(Image.fromarray(rgb), fmt)
    with pytest.raises(ImageRejected) as e:
        normalize_image(data[: len(data) // 2])
    assert e.value.reason == "corrupt"
