"""DICOM pixel data to display-ready 8-bit pixels: modality LUT (rescale slope/intercept or a
Modality LUT Sequence), VOI (VOI LUT Sequence, else window center/width, else the image's own
min..max or percentiles), MONOCHROME1 inversion, palette colour, RGB (pydicom converts YBR).
Compressed transfer syntaxes decode through pydicom's plugins: pylibjpeg with its openjpeg and
rle plugins, pyjpegls, python-gdcm (JPEG lossless), Pillow (JPEG baseline)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    pixel_array,
)

from assets.sources.readers.pixels import auto_bounds, to_uint8, window_bounds

WindowMode = Literal["auto", "minmax", "percentile"]


def frame_count(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def decode_frame(ds: Dataset, index: int | None) -> np.ndarray:
    """One frame's stored pixel values (RGB for colour data); `index` None for a single frame."""
    return pixel_array(ds, index=index if frame_count(ds) > 1 else None)


def fix_palette_byte_order(ds: Dataset) -> None:
    """Byte-swap 16-bit palette LUT data of a big-endian dataset in place: pydicom 3.0 reads it
    as native (little-endian) words, which scrambles the colours of big-endian palette files."""
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is None or syntax.is_little_endian or "RedPaletteColorLookupTableDescriptor" not in ds:
        return
    entries = int(ds.RedPaletteColorLookupTableDescriptor[0]) or 65536
    for color in ("Red", "Green", "Blue", "Alpha"):
        key = f"{color}PaletteColorLookupTableData"
        if key in ds and len(ds[key].value) == 2 * entries:
            ds[key].value = np.frombuffer(ds[key].value, ">u2").astype("<u2").tobytes()


def _shift_to_8bit(arr: np.ndarray, bits: int) -> np.ndarray:
    return (arr >> max(bits - 8, 0)).astype(np.uint8) if bits > 8 else arr.astype(np.uint8)


def to_display(arr: np.ndarray, ds: Dataset, *, window: WindowMode = "auto",
               percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """8-bit grayscale (H x W) or RGB (H x W x 3) pixels as a viewer would show them."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        return _shift_to_8bit(rgb, bits)
    if arr.ndim == 3:  # RGB, and YBR already converted to RGB by pydicom
        return _shift_to_8bit(arr, int(ds.get("BitsStored") or arr.dtype.itemsize * 8))
    values = apply_modality_lut(arr, ds)
    if window == "auto" and "VOILUTSequence" in ds:
        lut = ds.VOILUTSequence[0]
        out = apply_voi_lut(values, ds, prefer_lut=True)
        data = np.asarray(lut.LUTData)
        gray = to_uint8(out, float(data.min()), float(data.max()))
    elif window == "auto" and "WindowCenter" in ds and "WindowWidth" in ds:
        gray = _window(values, ds)
    else:
        gray = to_uint8(values, *auto_bounds(values, "percentile" if window == "percentile" else "minmax",
                                             percentiles))
    return 255 - gray if photometric == "MONOCHROME1" else gray


def _first(value) -> float:
    """A DS value, or the first of several."""
    try:
        return float(value)
    except TypeError:
        return float(value[0])


def _window(values: np.ndarray, ds: Dataset) -> np.ndarray:
    """Window center/width (the first pair) with the VOI LUT Function: LINEAR, LINEAR_EXACT, SIGMOID."""
    center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
    function = str(ds.get("VOILUTFunction", "LINEAR")).upper()
    if function == "SIGMOID":
        y = 255.0 / (1.0 + np.exp(-4.0 * (values.astype(np.float64) - center) / max(width, 1e-6)))
        return np.rint(y).astype(np.uint8)
    if function == "LINEAR_EXACT":
        return to_uint8(values, center - width / 2, center + width / 2)
    return to_uint8(values, *window_bounds(center, width))
