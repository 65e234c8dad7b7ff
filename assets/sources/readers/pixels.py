"""Pixel arrays from scanners and arrays (any dtype) to 8 bits, ready for the PNG encoder."""

from __future__ import annotations

from typing import Literal

import numpy as np

RangeMode = Literal["minmax", "percentile"]


def window_bounds(center: float, width: float) -> tuple[float, float]:
    """The input range a DICOM linear window (PS3.3 C.11.2.1.2.1) maps onto the output range."""
    width = max(float(width), 1.0)
    return center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2


def auto_bounds(arr: np.ndarray, mode: RangeMode = "minmax",
                percentiles: tuple[float, float] = (0.5, 99.5)) -> tuple[float, float]:
    """(low, high) of `arr`'s own values: its min and max, or two percentiles (robust to a few
    extreme pixels such as burned-in text or metal)."""
    finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
    if finite.size == 0:
        return 0.0, 0.0
    if mode == "percentile":
        lo, hi = np.percentile(finite, percentiles)
        return float(lo), float(hi)
    return float(finite.min()), float(finite.max())


def to_uint8(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map [lo, hi] linearly onto 0..255, clipping outside; a flat range gives zeros."""
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    a = (np.asarray(arr, dtype=np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    a = np.nan_to_num(a, nan=0.0, posinf=255.0, neginf=0.0)
    return np.rint(np.clip(a, 0, 255)).astype(np.uint8)


def scale_to_uint8(arr: np.ndarray, mode: RangeMode = "minmax",
                   percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """8-bit pixels unchanged; anything else windowed to its own range."""
    if arr.dtype == np.uint8:
        return arr
    return to_uint8(arr, *auto_bounds(arr, mode, percentiles))

