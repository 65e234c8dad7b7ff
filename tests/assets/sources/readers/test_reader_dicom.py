"""DICOM: modality LUT, windowing, MONOCHROME1, multi-frame, colour, compressed syntaxes, bad files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from dicom_helpers import write_dicom
from PIL import Image
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless
from reader_helpers import make_spec, run_ingest

from assets.sources.readers import read_source
from assets.sources.readers.dicom_pixels import to_display


def _read(location, **options):
    options.setdefault("label_from", "none")
    options.setdefault("privacy", "public")
    return list(read_source(make_spec("dicom", location, modality="ct", **options)).records)


def _pixels(record) -> np.ndarray:
    assert record.error is None, record.error_detail
    return np.asarray(Image.open(io.BytesIO(record.image_bytes)))


HU = np.array([[-1000, -160, 40], [240, 1000, 3000]], dtype=np.int16)


def test_rescale_then_window_center_width(tmp_path):
    stored = (HU + 1024).astype(np.uint16)
    write_dicom(tmp_path / "ct.dcm", stored, bits_stored=12, RescaleSlope=1, RescaleIntercept=-1024,
                WindowCenter=40, WindowWidth=400)
    # Linear window: below c - 0.5 - (w-1)/2 = -160 is 0, above c - 0.5 + (w-1)/2 = 239 is 255.
    assert _pixels(_read(tmp_path)[0]).tolist() == [[0, 0, 128], [255, 255, 255]]


def test_without_window_min_max_or_percentiles_and_monochrome1_inverts(tmp_path):
    ramp = np.arange(100 * 100, dtype=np.uint16).reshape(100, 100) * 4
    write_dicom(tmp_path / "m2" / "a.dcm", ramp, bits_stored=16)
    write_dicom(tmp_path / "m1" / "a.dcm", ramp, bits_stored=16, photometric="MONOCHROME1")
    mono2 = _pixels(_read(tmp_path / "m2")[0])
    assert (mono2.min(), mono2.max(), mono2[50, 0]) == (0, 255, 128)
    assert np.array_equal(_pixels(_read(tmp_path / "m1")[0]), 255 - mono2)
    robust = _pixels(_read(tmp_path / "m2", window="percentile", percentiles=[10, 90])[0])
    assert (robust < 1).mean() > 0.09 and (robust > 254).mean() > 0.09


def test_voi_lut_function_sigmoid_and_linear_exact():
    from pydicom.dataset import Dataset
    ds = Dataset()
    ds.PhotometricInterpretation, ds.WindowCenter, ds.WindowWidth = "MONOCHROME2", 100, 50
    values = np.array([[0, 100, 200]], dtype=np.int16)
    ds.VOILUTFunction = "SIGMOID"
    assert to_display(values, ds).tolist() == [[0, 128, 255]]
    ds.VOILUTFunction = "LINEAR_EXACT"
    assert to_display(np.array([[75, 100, 125]], dtype=np.int16), ds).tolist() == [[0, 128, 255]]


def test_multi_frame_middle_or_every_frame(tmp_path):
    frames = np.stack([np.full((8, 8), 100 * i, dtype=np.uint16) for i in range(5)])
    frames[:, 0, 0] = 0
    frames[:, 0, 1] = 400  # same range in every frame, so min-max maps them alike
    write_dicom(tmp_path / "cine.dcm", frames, bits_stored=12)
    middle = _read(tmp_path)
    assert [r.record_id for r in middle] == ["cine.dcm#frame2"] and _pixels(middle[0])[4, 4] == 128
    every = _read(tmp_path, frames="all")
    assert [r.record_id for r in every] == [f"cine.dcm#frame{i}" for i in range(5)]
    assert [int(_pixels(r)[4, 4]) for r in every] == [0, 64, 128, 191, 255]
    assert every[3].meta["dicom"]["frame"] == 3 and every[3].meta["dicom"]["frames"] == 5


def test_rgb_and_ybr_full(tmp_path):
    from pydicom.pixels import convert_color_space
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    write_dicom(tmp_path / "rgb.dcm", rgb, photometric="RGB")
    write_dicom(tmp_path / "ybr.dcm", convert_color_space(rgb, "RGB", "YBR_FULL"), photometric="YBR_FULL")
    by_name = {r.record_id: _pixels(r) for r in _read(tmp_path)}
    assert np.array_equal(by_name["rgb.dcm"], rgb)
    assert np.abs(by_name["ybr.dcm"].astype(int) - rgb).max() <= 2


def test_lossless_encodings_of_one_image_hash_alike_through_ingest(tmp_path):
    image = np.random.default_rng(1).integers(0, 4096, (64, 48), dtype=np.uint16)
    for syntax in (None, RLELossless, JPEGLSLossless, JPEG2000Lossless):
        name = syntax.name.split()[0] if syntax else "explicit"
        kwargs = {"syntax": syntax} if syntax else {}
        write_dicom(tmp_path / "src" / f"{name}.dcm", image, bits_stored=12, **kwargs)
    spec = make_spec("dicom", tmp_path / "src", label_from="none", privacy="public")
    stats, samples, _ = run_ingest(read_source(spec), tmp_path / "out")
    assert stats["ingested"] == 4
    assert len({s["pixel_sha256"] for s in samples}) == 1
    syntaxes = {__import__("json").loads(s["provenance"])["row"]["meta"]["dicom"]["TransferSyntax"] for s in samples}
    assert len(syntaxes) == 4


def test_bad_files_become_error_records(tmp_path):
    good = np.zeros((4, 4), dtype=np.uint16)
    write_dicom(tmp_path / "ok.dcm", good)
    (tmp_path / "empty.dcm").write_bytes(b"")
    (tmp_path / "notes.dcm").write_bytes(b"this is a text file, not DICOM\n" * 10)
    write_dicom(tmp_path / "bomb.dcm", good, Rows=30000, Columns=30000)
    data = (tmp_path / "ok.dcm").read_bytes()
    (tmp_path / "truncated.dcm").write_bytes(data[: len(data) - 10])
    nopix = write_dicom(tmp_path / "sr.dcm", good)
    import pydicom
    ds = pydicom.dcmread(nopix)
    del ds.PixelData
    ds.save_as(nopix)
    (tmp_path / "DICOMDIR").write_bytes(b"index")  # an index, not an input
    got = {r.record_id: r.error for r in _read(tmp_path)}
    assert got == {"ok.dcm": None, "empty.dcm": "empty", "notes.dcm": "not_dicom", "bomb.dcm": "decompression_bomb",
                   "truncated.dcm": "corrupt", "sr.dcm": "no_pixel_data"}


def test_unsupported_transfer_syntax_is_named(tmp_path):
    import pydicom
    from pydicom.encaps import encapsulate
    path = write_dicom(tmp_path / "xl.dcm", np.zeros((4, 4), dtype=np.uint8))
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 video: no decoder
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3 not really mpeg2"])
    ds["PixelData"].VR = "OB"
    ds.save_as(path)
    (record,) = _read(tmp_path)
    assert record.error == "unsupported_transfer_syntax" and "MPEG2" in record.error_detail


@pytest.mark.parametrize("folder, label, error", [("pneumonia", "pneumonia", None), ("tumour", None, "unknown_label")])
def test_labels_from_class_folders_with_hidden_paths(tmp_path, folder, label, error):
    write_dicom(tmp_path / "train" / folder / "Doe_Janet" / "IM0001", np.zeros((4, 4), dtype=np.uint8))
    (record,) = read_source(make_spec("dicom", tmp_path, classes=["pneumonia", "normal"])).records
    assert (record.label, record.error, record.split) == (label, error, "train")
    assert record.record_id.startswith("id-") and "Doe" not in record.record_id
