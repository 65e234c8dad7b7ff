"""MedMNIST `.npz` files (any size: 28, 64, 128, 224; 2-D and 3-D): arrays `{split}_images` and
`{split}_labels` for split in train / val / test. Images are streamed from the zip member in
chunks, so a file larger than memory is fine. Class names come from the `medmnist` package's
INFO when it is installed (read without importing torch), else from the catalog, in order.
"""

from __future__ import annotations

import importlib.util
import logging
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from fsspec import AbstractFileSystem

from assets.shared.images import encode_png
from assets.sources.catalog import SourceSpec
from assets.sources.readers.imagefolder import list_files
from assets.sources.readers.pixels import scale_to_uint8
from assets.sources.readers.records import (
    LabelResolver,
    SampleRecord,
    SourceError,
    fail,
    multilabel_text,
    new_record,
    parse_options,
    relative,
)

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class MedMNISTOptions:
    # MedMNIST dataset flag (e.g. "pathmnist"); empty: from the file name ("pathmnist_64.npz").
    flag: str = ""
    # Images decoded per read from the zip member.
    chunk: int = 256


@lru_cache(maxsize=1)
def medmnist_info() -> dict | None:
    """medmnist.info.INFO, loaded from its file (the package's __init__ imports torch), or None."""
    try:
        spec = importlib.util.find_spec("medmnist")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = posixpath.join(list(spec.submodule_search_locations)[0], "info.py")
    try:
        mod_spec = importlib.util.spec_from_file_location("_medmnist_info", path)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
        return dict(module.INFO)
    except Exception as e:  # noqa: BLE001 - a broken optional package means "not installed"
        log.warning("medmnist is installed but its INFO could not be read: %s", e)
        return None


def class_names(spec: SourceSpec, flag: str) -> list[str]:
    """Names by class index: medmnist INFO's for `flag`, else the catalog's classes in order."""
    info = (medmnist_info() or {}).get(flag)
    if info:
        labels = info["label"]
        return [labels[str(i)] for i in range(len(labels))]
    if spec.classes:
        return spec.class_names()
    raise SourceError(f"source {spec.name!r}: no class names for MedMNIST flag {flag!r} "
                      "(install medmnist or list the classes in the catalog)")


def _npy_rows(member, chunk: int) -> Iterator[np.ndarray]:
    """Chunks of rows of the .npy array in an open zip member, read sequentially."""
    version = np.lib.format.read_magic(member)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(member)
    if fortran or dtype.hasobject or not shape:
        raise ValueError(f"unsupported array layout: shape {shape}, fortran {fortran}, dtype {dtype}")
    row_shape = shape[1:]
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
    for start in range(0, shape[0], chunk):
        n = min(chunk, shape[0] - start)
        data = member.read(n * row_bytes)
        if len(data) != n * row_bytes:
            raise EOFError(f"array ends after {start + len(data) // max(row_bytes, 1)} of {shape[0]} images")
        yield np.frombuffer(data, dtype=dtype).reshape((n, *row_shape))


def _to_image(arr: np.ndarray) -> np.ndarray:
    """H x W, H x W x C, or a 3-D volume (its middle slice along the first axis) as 8-bit."""
    if arr.ndim == 4 or (arr.ndim == 3 and arr.shape[-1] not in (1, 3)):
        arr = arr[arr.shape[0] // 2]
    return scale_to_uint8(arr)


def read_medmnist_npz(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> Iterator[SampleRecord]:
    opts = parse_options(MedMNISTOptions, spec.options, "medmnist_npz")
    root = location if fs.isdir(location) else posixpath.dirname(location)
    labels = LabelResolver(spec)
    for path in (p for p in list_files(fs, location) if p.endswith(".npz")):
        rel = relative(path, root)
        flag = opts.flag or re.sub(r"_\d+$", "", posixpath.basename(path)[:-4])
        names = class_names(spec, flag)
        try:
            with fs.open(path, "rb") as f, zipfile.ZipFile(f) as zf:
                members = set(zf.namelist())
                for split in SPLITS:
                    if f"{split}_images.npy" in members:
                        yield from _read_split(spec, opts, zf, rel, split, names, labels)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as e:
            yield fail(new_record(spec, f"{rel}#unreadable"), "corrupt_archive", f"{type(e).__name__}: {e}")


def _read_split(spec, opts, zf, rel, split, names, labels) -> Iterator[SampleRecord]:
    y = np.load(zf.open(f"{split}_labels.npy")) if f"{split}_labels.npy" in zf.namelist() else None
    y = None if y is None else y.reshape(len(y), -1)
    index = 0
    with zf.open(f"{split}_images.npy") as member:
        for chunk in _npy_rows(member, opts.chunk):
            for arr in chunk:
                record = new_record(spec, f"{rel}#{split}/{index}", split=split)
                yield _fill(record, arr, None if y is None or index >= len(y) else y[index], names, labels)
                index += 1


def _fill(record: SampleRecord, arr: np.ndarray, y: np.ndarray | None, names: list[str],
          labels: LabelResolver) -> SampleRecord:
    if y is None:
        return fail(record, "missing_label", "no label at this index")
    try:
        if len(y) > 1:  # multi-label, one column per class
            record.labels = labels.many(names[i] for i in np.flatnonzero(y == 1))
            record.label = multilabel_text(record.labels)
        else:
            if not 0 <= int(y[0]) < len(names):
                raise IndexError("no such class index")
            record.label = labels.one(names[int(y[0])])
        record.meta["label_index"] = y.astype(int).tolist()
    except (IndexError, KeyError) as e:
        return fail(record, "unknown_label", f"label {y.tolist()} of {len(names)} classes: {e}")
    try:
        record.image_bytes = encode_png(_to_image(arr))
    except ValueError as e:
        return fail(record, "not_an_image", str(e))
    return record
