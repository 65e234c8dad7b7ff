"""DICOM folders: every file under the location (DICOMDIR index files aside) becomes one record
per chosen frame, its pixels made display-ready (dicom_pixels.py) and encoded as 8-bit PNG.
Labels come from class folders (`[split/]class/.../file.dcm`) or are left empty. Only the
allow-listed tags of dicom_privacy.py are kept; error details are scrubbed like descriptions. A frame of
an ultrasound or secondary-capture image showing text in its borders (burned_in_text.py) is quarantined
when the source is clinical or asks for it. DICOM sources are clinical by default, so read_source replaces their paths by keyed hashes (exports often
name folders after patients, clinical.py).
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

import pydicom
from fsspec import AbstractFileSystem
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from assets.shared.images import MAX_PIXELS, encode_png
from assets.sources.catalog import SourceSpec
from assets.sources.readers.burned_in_text import text_bands, text_prone
from assets.sources.readers.dicom_pixels import (
    WindowMode,
    decode_frame,
    fix_palette_byte_order,
    frame_count,
    to_display,
)
from assets.sources.readers.dicom_privacy import (
    FREE_TEXT_TAGS,
    identifying_values,
    safe_tags,
    scrub,
)
from assets.sources.readers.imagefolder import list_files
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

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_MISSING_DECODER = ("plugin", "decoder", "missing dependencies", "not supported")
# Tags saying the pixels identify the patient, and the quarantine reason of each.
_IDENTIFYING_PIXELS = {"BurnedInAnnotation": "burned_in_annotation",
                       "RecognizableVisualFeatures": "recognizable_visual_features"}


@dataclass(frozen=True)
class DicomOptions:
    # Which frames of a multi-frame file become samples.
    frames: Literal["middle", "first", "all"] = "middle"
    # "auto": the file's VOI LUT or window, else min..max; or always "minmax" / "percentile".
    window: WindowMode = "auto"
    percentiles: tuple[float, float] = (0.5, 99.5)
    # "folder": the class is the folder under the (optional) split folder; "none": unlabelled.
    label_from: Literal["folder", "none"] = "folder"
    # Frames larger than this many pixels are refused undecoded.
    max_pixels: int = MAX_PIXELS
    # Free-text tags a clinical source keeps (of dicom_privacy.FREE_TEXT_TAGS), reduced to their known
    # technical words; none by default. A public source keeps SeriesDescription and StudyDescription,
    # scrubbed of names, dates and IDs.
    text_tags: tuple[str, ...] = ()
    # Keep images whose BurnedInAnnotation or RecognizableVisualFeatures is YES (text or a face in the
    # pixels); only for a source whose images someone has reviewed. Quarantined otherwise.
    keep_burned_in: bool = False
    # Search ultrasound and secondary-capture frames (burned_in_text.text_prone) for text in their border
    # bands and quarantine those with some (burned_in_text_suspected); None: on for a clinical source,
    # off for a public one. false for a clinical source whose images someone has reviewed.
    burned_in_text_detector: bool | None = None

    def validate(self) -> None:
        for name, allowed in (("frames", ("middle", "first", "all")), ("window", ("auto", "minmax", "percentile")),
                              ("label_from", ("folder", "none"))):
            if getattr(self, name) not in allowed:
                raise SourceError(f"option {name} must be one of {list(allowed)}, not {getattr(self, name)!r}")
        unknown = sorted(set(self.text_tags) - set(FREE_TEXT_TAGS))
        if unknown:
            raise SourceError(f"option text_tags: {unknown} are not free-text tags; valid: {list(FREE_TEXT_TAGS)}")
        if not (self.burned_in_text_detector is None or isinstance(self.burned_in_text_detector, bool)):
            raise SourceError("option burned_in_text_detector must be true or false (or left out: on for a "
                              f"clinical source), not {self.burned_in_text_detector!r}")


def read_dicom(spec: SourceSpec, fs: AbstractFileSystem, location: str) -> Iterator[SampleRecord]:
    opts = parse_options(DicomOptions, spec.options, "dicom")
    root = location if fs.isdir(location) else posixpath.dirname(location)
    labels = LabelResolver(spec)
    for path in list_files(fs, location):
        if posixpath.basename(path).upper() == "DICOMDIR":
            continue
        rel = relative(path, root)
        split, folder = folder_split_and_class(rel, use_split_folders=spec.split.by == "given")
        record = new_record(spec, rel, split=split, group=rel)
        if opts.label_from == "folder":
            if folder is None:
                yield fail(record, "no_class_folder", "file is not inside a class folder")
                continue
            try:
                record.label = labels.one(folder)
            except KeyError:
                yield fail(record, "unknown_label", "its class folder is not a class of this source")
                continue
        try:
            data = fs.cat_file(path)
        except OSError as e:
            yield fail(record, "read_error", type(e).__name__)
            continue
        yield from file_records(record, data, opts, clinical=spec.clinical)


def parse(data: bytes) -> pydicom.Dataset:
    """The dataset in `data`; files without a preamble and file meta (old ACR-NEMA style) are
    accepted when they hold pixel data. Raises InvalidDicomError for anything else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _parse(data)


def _parse(data: bytes) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    if "PixelData" not in ds or "Rows" not in ds:
        raise InvalidDicomError("no DICOM preamble, file meta or pixel data")
    implicit, little = ds.original_encoding
    ds.file_meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                                      ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    return ds


def file_records(record: SampleRecord, data: bytes, opts: DicomOptions, *,
                 clinical: bool = False) -> Iterator[SampleRecord]:
    """The records of one DICOM file's bytes (one per chosen frame), or one error record; the tags
    kept are a `clinical` source's (dicom_privacy.safe_tags)."""
    with warnings.catch_warnings():  # pydicom warns about every non-conformant value
        warnings.simplefilter("ignore")
        records = _file_records(record, data, opts, clinical)
    yield from records


def _file_records(record: SampleRecord, data: bytes, opts: DicomOptions, clinical: bool) -> list[SampleRecord]:
    try:
        ds = parse(data)
    except Exception as e:  # noqa: BLE001 - anything pydicom cannot parse is not DICOM to us
        return [fail(record, "not_dicom" if data else "empty", type(e).__name__)]
    identifying = identifying_values(ds)
    record = replace(record, identifying=tuple(identifying))

    def failed(reason: str, e: Exception) -> SampleRecord:
        return fail(record, reason, scrub(f"{type(e).__name__}: {e}", identifying, limit=500))

    if not any(k in ds for k in _PIXEL_KEYWORDS):
        return [fail(record, "no_pixel_data", "the file has no pixel data element (not an image, or truncated)")]
    flagged = [k for k in _IDENTIFYING_PIXELS if str(ds.get(k) or "").strip().upper() == "YES"]
    if flagged and not opts.keep_burned_in:
        return [fail(record, _IDENTIFYING_PIXELS[flagged[0]],
                     f"{' and '.join(flagged)} is YES: the pixels may show who was imaged "
                     "(option keep_burned_in keeps them for a reviewed source)")]
    rows, cols, n = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0), frame_count(ds)
    if rows * cols > opts.max_pixels:
        return [fail(record, "decompression_bomb", f"{cols}x{rows} > {opts.max_pixels} pixels")]
    if "PatientID" in ds and str(ds.PatientID).strip():  # frames of one patient share a split
        record = replace(record, group="patient-" + hashlib.sha256(str(ds.PatientID).encode()).hexdigest())
    tags = safe_tags(ds, identifying, clinical=clinical, text_tags=opts.text_tags)
    syntax = ds.file_meta.get("TransferSyntaxUID")
    tags["TransferSyntax"] = getattr(syntax, "name", "unknown")
    fix_palette_byte_order(ds)
    detector = clinical if opts.burned_in_text_detector is None else opts.burned_in_text_detector
    # An image kept by keep_burned_in was reviewed as showing text: not searched again.
    search_text = detector and not flagged and text_prone(
        str(ds.get("Modality") or ""), str(ds.get("SOPClassUID") or ""), _values(ds.get("ImageType")))
    out = []
    for index in {"middle": [n // 2], "first": [0], "all": range(n)}[opts.frames]:
        frame = replace(record, record_id=record.record_id + (f"#frame{index}" if n > 1 else ""))
        try:
            pixels = to_display(decode_frame(ds, index), ds, window=opts.window, percentiles=opts.percentiles)
        except (NotImplementedError, RuntimeError) as e:
            missing = any(m in str(e).lower() for m in _MISSING_DECODER)
            out.append(failed("unsupported_transfer_syntax" if missing else "corrupt", e))
        except Exception as e:  # noqa: BLE001 - undecodable pixel data is the file's fault
            out.append(failed("corrupt", e))
        else:
            bands = text_bands(pixels) if search_text else []
            # Fixed words only: the privacy check searches details for every identifier of the source.
            out.append(fail(frame, "burned_in_text_suspected",
                            f"text-like strokes in the {' and '.join(bands)} border band{'s' if len(bands) > 1 else ''}"
                            " (option burned_in_text_detector: false keeps such images of a reviewed source)")
                       if bands else replace(frame, image_bytes=encode_png(pixels),
                                             meta={"dicom": {**tags, "frame": index, "frames": n}}))
    return out


def _values(value) -> list[str]:
    """A multi-valued element's values as strings (one value, or none, as a list too)."""
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" \
        else [str(value)]
