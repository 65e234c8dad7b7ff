"""NIfTI volumes: slices along an axis (middle ones or every k-th), shared windowing, bad files."""

from __future__ import annotations

import gzip
import io

import nibabel as nib
import numpy as np
from PIL import Image
from reader_helpers import make_spec, run_ingest

from assets.sources.readers import read_source


def _save(path, data, **header):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(data, np.eye(4))
    for key, value in header.items():
        img.header[key] = value
    nib.save(img, str(path))
    return path


def _volume() -> np.ndarray:
    """10 x 12 x 8 volume whose slice k along every axis is recognisable: value = 100 * z + x."""
    x, _, z = np.meshgrid(np.arange(10), np.arange(12), np.arange(8), indexing="ij")
    return (100 * z + x).astype(np.int16)


def _pixels(record) -> np.ndarray:
    assert record.error is None, record.error_detail
    return np.asarray(Image.open(io.BytesIO(record.image_bytes)))


def test_middle_slices_along_an_axis_with_one_window_per_volume(tmp_path):
    _save(tmp_path / "liver" / "case1.nii.gz", _volume(), descrip=b"Doe^Jane scanned 2021")
    spec = make_spec("nifti", tmp_path, modality="ct", classes=["liver", "kidney"], axis=2, count=3,
                     privacy="public")
    records = list(read_source(spec).records)
    assert [r.record_id for r in records] == [f"liver/case1.nii.gz#axis2/slice{k}" for k in (3, 4, 5)]
    assert {r.label for r in records} == {"liver"} and {r.group for r in records} == {"liver/case1.nii.gz"}
    means = [_pixels(r).mean() for r in records]
    assert means[0] < means[1] < means[2]  # shared window: brighter slices stay brighter
    first = _pixels(records[0])
    assert first.shape == (12, 10)  # rotated 90 degrees for display: x runs along rows reversed
    assert "Doe" not in str(records[0].meta) and records[0].meta["nifti"]["shape"] == [10, 12, 8]


def test_every_kth_slice_and_a_fixed_window(tmp_path):
    _save(tmp_path / "vol.nii", _volume())
    spec = make_spec("nifti", tmp_path / "vol.nii", label_from="none", privacy="public", axis=0, slices="every", step=4,
                     window=[450, 101])
    records = list(read_source(spec).records)
    assert [r.record_id.split("#")[1] for r in records] == ["axis0/slice0", "axis0/slice4", "axis0/slice8"]
    # window 400..500 (c - 0.5 -/+ (w - 1) / 2): z <= 3 black, z = 4 (value 400 + x) graded, z >= 5 white
    plane = np.rot90(np.asarray(_pixels(records[1])), -1)  # back to (y, z)
    assert (plane[:, :4] == 0).all() and (plane[:, 5:] == 255).all() and 0 < plane[0, 4] < 255


def test_4d_volumes_use_their_first_time_point_and_scaling(tmp_path):
    data = np.stack([np.full((4, 4, 3), t, np.float32) for t in (1, 9)], axis=-1)
    data[0, 0, :, 0] = 0
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(2.0, 10.0)
    nib.save(img, str(tmp_path / "fmri.nii"))
    (record,) = read_source(make_spec("nifti", tmp_path / "fmri.nii", label_from="none")).records
    assert record.meta["nifti"]["shape"] == [4, 4, 3, 2] and set(np.unique(_pixels(record))) == {0, 255}


def test_bad_volumes_are_quarantined(tmp_path):
    good = _save(tmp_path / "src" / "normal" / "ok.nii.gz", _volume()).read_bytes()
    (tmp_path / "src" / "normal" / "truncated.nii.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "src" / "normal" / "empty.nii").write_bytes(b"")
    (tmp_path / "src" / "normal" / "junk.nii").write_bytes(b"not a nifti header" * 30)
    (tmp_path / "src" / "normal" / "notes.txt").write_text("hi")
    (tmp_path / "src" / "normal" / "bomb.nii.gz").write_bytes(gzip.compress(b"\0" * 4_000_000))
    spec = make_spec("nifti", tmp_path / "src", modality="mri", max_bytes=1_000_000, privacy="public")
    stats, samples, quarantine = run_ingest(read_source(spec), tmp_path / "out")
    assert [s["orig_path"] for s in samples] == ["normal/ok.nii.gz#axis2/slice4"]
    assert {q["orig_path"]: q["reason"] for q in quarantine} == {
        "normal/truncated.nii.gz": "corrupt", "normal/empty.nii": "empty", "normal/junk.nii": "corrupt",
        "normal/notes.txt": "unsupported_extension", "normal/bomb.nii.gz": "decompression_bomb"}


def test_a_nifti_source_is_clinical_by_default_its_ids_name_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDPAIRS_PRIVACY_SALT", "test-salt")
    _save(tmp_path / "liver" / "Doe_Jane_7731942.nii.gz", _volume())
    _save(tmp_path / "Roe_Richard" / "case.nii.gz", _volume())  # not a class: no label from a patient's name
    spec = make_spec("nifti", tmp_path, modality="ct", classes=["liver"], count=2)
    records = list(read_source(spec).records)
    assert spec.privacy == "clinical" and sorted(map(str, (r.error for r in records))) == [
        "None", "None", "unknown_label"]
    assert len({r.record_id for r in records}) == 3
    for r in records:
        shown = r.record_id + r.error_detail + str(r.meta)
        assert r.record_id.startswith("id-") and not any(name in shown for name in ("Doe", "7731942", "Roe"))
