"""NIfTI volumes (`.nii`, `.nii.gz`, NIfTI-1 and -2) cut into 2-D slices along a chosen axis:
the middle `count` slices, or every `step`-th. Intensities go to 8 bits through a fixed window
(center, width: e.g. 40, 400 for abdominal CT in HU) or the selected slices' own percentiles,
so all slices of one volume share one mapping. Slices are rotated 90° for display. Labels come
from class folders like ImageFolder's. Header text fields (descrip, aux_file) are never kept.
"""

from __future__ import annotations

import gzip
import io
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

import nibabel as nib
import numpy as np
from fsspec import AbstractFileSystem

from assets.shared.images import MAX_PIXELS, encode_png
from assets.sources.catalog import SourceSpec
from assets.sources.readers.imagefolder import list_files
from assets.sources.readers.pixels import auto_bounds, to_uint8, window_bounds
from assets.sources.readers.records import (
    LabelResolver,
    SampleRecord,
    SourceError,
    fail,
    folder_split_and_class,
    new_record,
    parse_options,
    relative,
)


@dataclass(frozen=True)
class NiftiOptions:
    axis: int = 2
    slices: Literal["middle", "every"] = "middle"
    count: int = 1  # "middle": how many central slices
    step: int = 1  # "every": keep every step-th slice
    # (center, width) of a fixed window; empty: the percentiles of the selected slices.
    window: tuple[float, ...] = ()
    percentiles: tuple[float, float] = (0.5, 99.5)
    label_from: Literal["folder", "none"] = "folder"
    # Decompressed volumes larger than this are refused.
    max_bytes: int = 2 * 2**30

    def validate(self) -> None:
        if self.axis not in (0, 1, 2) or self.count < 1 or self.step < 1 or len(self.window) not in (0, 2):
            raise SourceError("nifti options: axis must be 0, 1 or 2; count and step >= 1; window (center, width)")
        if self.slices not in ("middle", "every") or self.label_from not in ("folder", "none"):
            raise SourceError("nifti options: slices is 'middle' or 'every'; label_from 'folder' or 'none'")


def select_slices(depth: int, opts: NiftiOptions) -> list[int]:
    if opts.slices == "every":
        return list(range(0, depth, opts.step))
    count = min(opts.count, depth)
    start = max(0, min(depth - count, depth // 2 - count // 2))  # centred on depth // 2, as DICOM frames
    return list(range(start, start + count))


def load_volume(data: bytes, max_bytes: int):
    """A nibabel image from the bytes of a .nii or .nii.gz file."""
    if data[:2] == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            data = gz.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise OverflowError(f"volume decompresses to more than {max_bytes} bytes")
    errors = []
    for cls in (nib.Nifti1Image, nib.Nifti2Image):
        try:
            return cls.from_bytes(data)
        except Exception as e:  # noqa: BLE001 - try the next header layout
            errors.append(f"{cls.__name__}: {e}")
    raise ValueError("; ".join(errors))


def read_nifti(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> Iterator[SampleRecord]:
    opts = parse_options(NiftiOptions, spec.options, "nifti")
    root = location if fs.isdir(location) else posixpath.dirname(location)
    labels = LabelResolver(spec)
    for path in list_files(fs, location):
        rel = relative(path, root)
        split, folder = folder_split_and_class(rel, use_split_folders=spec.split.by == "given")
        record = new_record(spec, rel, split=split, group=rel)
        if not rel.lower().endswith((".nii", ".nii.gz")):
            yield fail(record, "unsupported_extension", "not a .nii or .nii.gz file")
            continue
        if opts.label_from == "folder":
            try:
                if folder is None:
                    raise KeyError("file is not inside a class folder")
                record.label = labels.one(folder)
            except KeyError as e:
                yield fail(record, "unknown_label" if folder else "no_class_folder", str(e.args[0]))
                continue
        try:
            data = fs.cat_file(path)
        except OSError as e:
            yield fail(record, "read_error", f"{type(e).__name__}: {e}")
            continue
        yield from volume_records(record, data, opts)


def volume_records(record: SampleRecord, data: bytes, opts: NiftiOptions) -> Iterator[SampleRecord]:
    """One record per selected slice of the volume in `data`, or one error record."""
    try:
        img = load_volume(data, opts.max_bytes)
    except OverflowError as e:
        yield fail(record, "decompression_bomb", str(e))
        return
    except Exception as e:  # noqa: BLE001 - nibabel's errors for bad headers are many
        yield fail(record, "corrupt" if data else "empty", f"{type(e).__name__}: {e}")
        return
    shape = img.shape[:3] + (1,) * (3 - min(len(img.shape), 3))
    plane = [s for a, s in enumerate(shape) if a != opts.axis]
    if plane[0] * plane[1] > MAX_PIXELS:
        yield fail(record, "decompression_bomb", f"slice of {plane[0]}x{plane[1]} > {MAX_PIXELS} pixels")
        return
    picks = select_slices(shape[opts.axis], opts)
    try:
        stack = np.stack([_slice(img, opts.axis, k, len(img.shape)) for k in picks])
    except Exception as e:  # noqa: BLE001 - truncated data, bad dtype
        yield fail(record, "corrupt", f"{type(e).__name__}: {e}")
        return
    lo, hi = window_bounds(*opts.window) if opts.window else auto_bounds(stack, "percentile", opts.percentiles)
    meta = {"shape": list(map(int, img.shape)), "axis": opts.axis,
            "zooms": [round(float(z), 4) for z in img.header.get_zooms()[:3]]}
    for k, pixels in zip(picks, stack, strict=True):
        yield replace(record, record_id=f"{record.record_id}#axis{opts.axis}/slice{k}",
                      image_bytes=encode_png(np.rot90(to_uint8(pixels, lo, hi))),
                      meta={"nifti": {**meta, "slice": k}})


def _slice(img, axis: int, k: int, ndim: int) -> np.ndarray:
    """Slice k along `axis` of the first volume (a 4-D image's first time point), scaled by
    the header's slope and intercept."""
    index = [slice(None)] * 3 + [0] * max(ndim - 3, 0)
    if ndim < 3:
        return np.asarray(img.dataobj, dtype=np.float32).reshape(img.shape[:2])
    index[axis] = k
    return np.asarray(img.dataobj[tuple(index)], dtype=np.float32)
