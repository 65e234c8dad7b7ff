"""Burned-in text in ultrasound and secondary-capture frames: text drawn into the border of a real
ultrasound frame is quarantined as burned_in_text_suspected (a clinical source's default), a clean one
is not, and the detail names the band, never the file."""

from __future__ import annotations

import io
import json

import numpy as np
import pydicom
import pytest
from data_store import DataStore
from PIL import Image, ImageDraw, ImageFont
from reader_helpers import make_spec

from assets.sources.catalog_yaml import CatalogError, load_catalog
from assets.sources.readers import SourceError, read_source
from assets.sources.readers.burned_in_text import text_bands, text_prone
from assets.sources.synthetic import draw_class

DATA = DataStore().data_path
CLEAN_US = "color-px.dcm"  # a real transoesophageal colour Doppler frame, 256 x 120, with no text


def _banner(pixels: np.ndarray, corner: str = "top", size: int = 10, fill: int = 255) -> np.ndarray:
    """`pixels` with a patient banner drawn into the top-left or bottom-left corner."""
    im = Image.fromarray(pixels)
    y = 2 if corner == "top" else pixels.shape[0] - size - 4
    colour = (fill,) * 3 if im.mode == "RGB" else fill
    ImageDraw.Draw(im).text((3, y), "DOE^JANE 04/03/2021", fill=colour, font=ImageFont.load_default(size=size))
    return np.asarray(im)


def _us_file(path, *, planted: bool, **tags):
    """The real clean ultrasound file, with a banner burned into its pixels when `planted`."""
    ds = pydicom.dcmread(DATA / CLEAN_US)
    if planted:
        ds.PixelData = _banner(ds.pixel_array).tobytes()
    for key, value in tags.items():
        setattr(ds, key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path)


@pytest.mark.parametrize("modality, sop_class, image_type, expected", [
    ("US", "1.2.840.10008.5.1.4.1.1.6.1", ["ORIGINAL", "PRIMARY"], True),
    ("OT", "1.2.840.10008.5.1.4.1.1.7", [], True),  # Secondary Capture
    ("OT", "1.2.840.10008.5.1.4.1.1.7.4", [], True),  # Multi-frame True Color Secondary Capture
    ("MR", "1.2.840.10008.5.1.4.1.1.4", ["DERIVED", "SECONDARY", "MPR"], True),
    ("CR", "1.2.840.10008.5.1.4.1.1.1", ["DERIVED", "PRIMARY"], False),  # a lossy copy is not a capture
    ("CT", "1.2.840.10008.5.1.4.1.1.2", ["ORIGINAL", "PRIMARY", "AXIAL"], False),
    ("CT", "1.2.840.10008.5.1.4.1.1.70", [], False),  # not a Secondary Capture class, though it starts alike
])
def test_text_prone_images(modality, sop_class, image_type, expected):
    assert text_prone(modality, sop_class, image_type) is expected


def test_a_banner_on_a_synthetic_ultrasound_is_found_in_its_band():
    """Speckle reaching the bands is no text (bench/burned_in_text.py: none of the default set's 1,760
    images is flagged); the smallest banner is."""
    images = [im for c in range(3) for im in draw_class("ultrasound", c, 6, 128, np.random.default_rng(c))]
    assert [text_bands(im) for im in images] == [[]] * 18
    image = images[0]
    assert "top" in text_bands(_banner(image, "top", size=8))
    assert "bottom" in text_bands(_banner(image, "bottom", size=8, fill=180))


def test_a_clinical_source_quarantines_planted_and_real_banners_and_names_no_path(tmp_path):
    patient = tmp_path / "export" / "Doe_Janet_7731942"
    _us_file(patient / "clean.dcm", planted=False)
    _us_file(patient / "banner.dcm", planted=True)
    (patient / "real.dcm").write_bytes((DATA / "US1_UNCR.dcm").read_bytes())  # a scanner's own banner
    records = sorted(read_source(make_spec("dicom", tmp_path / "export", modality="ultrasound",
                                           label_from="none")).records, key=lambda r: r.error or "")
    assert [r.error for r in records] == [None, "burned_in_text_suspected", "burned_in_text_suspected"]
    assert Image.open(io.BytesIO(records[0].image_bytes)).size == (256, 120)
    for r in records[1:]:
        assert "top" in r.error_detail and "burned_in_text_detector" in r.error_detail
        assert r.record_id.startswith("id-") and not any(
            s in r.error_detail + r.record_id for s in ("Doe", "Janet", "7731942", "banner", "real", "export"))


def test_the_detector_is_off_when_asked_for_a_public_source_and_for_a_reviewed_tag(tmp_path):
    _us_file(tmp_path / "a" / "banner.dcm", planted=True)
    _us_file(tmp_path / "b" / "banner.dcm", planted=True, BurnedInAnnotation="YES")

    def errors(folder, **options):
        return [r.error for r in read_source(make_spec("dicom", tmp_path / folder, label_from="none",
                                                       **options)).records]

    assert errors("a", burned_in_text_detector=False) == [None]
    assert errors("a", privacy="public") == [None]
    assert errors("a", privacy="public", burned_in_text_detector=True) == ["burned_in_text_suspected"]
    assert errors("b", keep_burned_in=True) == [None]  # reviewed as showing text: kept, not searched
    assert errors("b") == ["burned_in_annotation"]


@pytest.mark.parametrize("value", ["on", 1, "false"])
def test_the_option_takes_only_true_or_false(tmp_path, value):
    with pytest.raises(SourceError, match="burned_in_text_detector must be true or false"):
        read_source(make_spec("dicom", tmp_path, burned_in_text_detector=value))
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(f"sources:\n  - {{name: us, modality: ultrasound, format: dicom, location: ., "
                       f"options: {{burned_in_text_detector: {json.dumps(value)}}}}}\n")
    with pytest.raises(CatalogError, match="burned_in_text_detector must be true or false"):
        load_catalog(str(catalog))


# The pydicom-data files whose middle frame shows text, looked at one by one: ultrasound banners
# (an institution's name, a study id, dates) and the SMPTE pattern's caption. The two-frame OBXXXX1A
# files' middle frame shows its banner at 4 of 255 levels above black: below the detector's contrast.
PYDICOM_DATA_TEXT = {"US1_J2KI.dcm", "US1_J2KR.dcm", "US1_UNCI.dcm", "US1_UNCR.dcm", "OBXXXX1A.dcm",
                     "OBXXXX1A_expb.dcm", "OBXXXX1A_rle.dcm", "gdcm-US-ALOKA-16.dcm", "gdcm-US-ALOKA-16_big.dcm",
                     "JPGLosslessP14SV1_1s_1f_8b.dcm", "color3d_jpeg_baseline.dcm#frame60", "mlut_18.dcm",
                     "vlut_04.dcm"}


def test_on_pydicom_data_it_flags_the_frames_with_text_and_no_other():
    """No false positive on the real files: every frame flagged shows text, every image without text passes."""
    spec = make_spec("dicom", DATA, label_from="none", privacy="public", burned_in_text_detector=True)
    flagged = {r.record_id for r in read_source(spec).records if r.error == "burned_in_text_suspected"}
    assert flagged == PYDICOM_DATA_TEXT
