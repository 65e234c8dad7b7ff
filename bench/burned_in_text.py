"""The burned-in text detector (assets/sources/readers/burned_in_text.py): its false positives on
images without text and its detection rate on images with text, real and planted.

- pydicom-data: every frame of every decodable file, each labelled by eye (TEXT_FILES: the
  ultrasound banners, the SMPTE pattern's captions); flagged frames among those without text are false
  positives, flagged ones among those with text detections.
- The synthetic default (every image the default `synthetic_source` writes, 128 px, six modalities).
- Planted: names, an MRN and dates rendered with PIL's default font (FreeType, anti-aliased) into the
  top-left and bottom-right corners of clean frames (one per distinct pydicom-data image, ten synthetic
  images per modality), at several font sizes and three contrasts against the corner's background.

Every image is searched, whatever its kind; the reader searches only text-prone DICOM images (US,
Secondary Capture, SECONDARY). Writes bench/results/burned_in_text.json and .md. Usage:
    python -m bench.burned_in_text [--synthetic-per-class 20]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from assets.shared.metadata import md_table
from assets.sources.readers.burned_in_text import text_bands, text_prone
from bench.output import write_results

# pydicom-data files whose frames show text (looked at, every frame): ultrasound banners and settings
# (institution, a study id, dates), and the SMPTE test pattern's caption. RG3's lone "R" lead marker is
# not counted as text: one letter is not a line.
TEXT_FILES = ("US1_", "OBXXXX1A", "gdcm-US-ALOKA-16", "JPGLosslessP14SV1", "color3d_jpeg_baseline",
              "mlut_18", "vlut_04")
# One file per distinct clean image of pydicom-data: the bases text is planted into.
CLEAN_BASES = ("693_UNCR.dcm", "JPEG-LL.dcm", "MR2_UNCR.dcm", "RG1_UNCR.dcm", "RG3_UNCR.dcm", "bad_sequence.dcm",
               "eCT_Supplemental.dcm", "explicit_VR-UN.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm",
               "OT-PAL-8-face.dcm", "SC_rgb.dcm", "color-px.dcm", "liver.dcm", "emri_small.dcm")
BANNER = ("DOE^JANE Q  MRN 7731942", "04/03/2021 10:45:12")
FONT_SIZES = (8, 11, 16, 24)
CONTRASTS = (255, 170, 110)  # the text's distance from the corner's background, out of 255


def dicom_frames() -> list[tuple[str, bool, np.ndarray]]:
    """(file#frame, text-prone by its tags, display pixels) of every frame of every pydicom-data file."""
    import pydicom
    from data_store import DataStore

    from assets.sources.readers.dicom import DicomOptions, file_records
    from assets.sources.readers.records import SampleRecord

    out = []
    for path in sorted(DataStore().data_path.iterdir()):
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        prone = text_prone(str(ds.get("Modality") or ""), str(ds.get("SOPClassUID") or ""),
                           list(ds.get("ImageType") or []))
        record = SampleRecord(record_id=path.name, source="pydicom_data", modality="ct")
        opts = DicomOptions(frames="all", burned_in_text_detector=False)
        for r in file_records(record, path.read_bytes(), opts):
            if r.image_bytes:
                out.append((r.record_id, prone, np.asarray(Image.open(io.BytesIO(r.image_bytes)))))
    return out


def synthetic_images(tmp: str, per_class: int | None) -> list[tuple[str, str, np.ndarray]]:
    """(path, modality, pixels) of the synthetic default's images (`per_class` of each class and split
    for a quicker run)."""
    from assets.sources.synthetic import generate_synthetic_dataset

    settings = {"train_per_class": per_class, "test_per_class": per_class} if per_class else {}
    rows, _ = generate_synthetic_dataset(f"{tmp}/synthetic", **settings)
    return [(r["path"], r["modality"], np.asarray(Image.open(f"{tmp}/synthetic/{r['path']}"))) for r in rows]


def plant(pixels: np.ndarray, corner: str, size: int, contrast: int) -> np.ndarray:
    """`pixels` with BANNER drawn into `corner` ("top" left or "bottom" right) at font `size`, light on
    a dark corner and dark on a light one, `contrast` levels from the corner's median."""
    im = Image.fromarray(pixels)
    font = ImageFont.load_default(size=size)
    line_h = size + 2
    h, w = pixels.shape[:2]
    margin = max(2, size // 4)
    ys = [margin + i * line_h for i in range(len(BANNER))] if corner == "top" else \
        [h - margin - (len(BANNER) - i) * line_h for i in range(len(BANNER))]
    region = pixels[:2 * line_h + margin, : w // 2] if corner == "top" else pixels[h - 2 * line_h - margin:, w // 2:]
    background = float(np.median(region.max(axis=2) if region.ndim == 3 else region))
    level = int(min(255, background + contrast)) if background < 128 else int(max(0, background - contrast))
    draw = ImageDraw.Draw(im)
    for text, y in zip(BANNER, ys):
        x = margin if corner == "top" else max(margin, w - margin - int(draw.textlength(text, font=font)))
        draw.text((x, y), text, fill=(level,) * 3 if im.mode == "RGB" else level, font=font)
    return np.asarray(im)


def measure_planted(bases: list[tuple[str, str, np.ndarray]]) -> tuple[list[dict], Counter]:
    """One row per (base, corner, size, contrast) planted, with whether the detector found it."""
    rows, skipped = [], Counter()
    for name, kind, pixels in bases:
        for size in FONT_SIZES:
            if size > 0.1 * pixels.shape[0]:  # a banner is a small part of the screen
                skipped[f"{kind}: font {size} px over a tenth of the height"] += 2 * len(CONTRASTS)
                continue
            for corner in ("top", "bottom"):
                for contrast in CONTRASTS:
                    found = bool(text_bands(plant(pixels, corner, size, contrast)))
                    rows.append({"base": name, "kind": kind, "size": size, "corner": corner,
                                 "contrast": contrast, "found": found})
    return rows, skipped


def _rate(hits: int, n: int) -> str:
    return f"{hits}/{n} ({hits / n:.1%})" if n else "0/0"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic-per-class", type=int, default=None,
                        help="images per class and split (default: the default source's 60 + 20)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    frames = dicom_frames()
    with tempfile.TemporaryDirectory() as tmp:
        synthetic = synthetic_images(tmp, args.synthetic_per_class)
    timer = time.perf_counter()
    dicom = [(name, prone, name.startswith(TEXT_FILES), bool(text_bands(px))) for name, prone, px in frames]
    seconds_dicom = time.perf_counter() - timer
    synth = [(path, modality, bool(text_bands(px))) for path, modality, px in synthetic]

    clean = [d for d in dicom if not d[2]]
    texty = [d for d in dicom if d[2]]
    by_modality = Counter(m for _, m, _ in synthetic)
    synth_fp = Counter(m for _, m, f in synth if f)
    first_frames = {}
    for n, _, px in frames:
        first_frames.setdefault(n.split("#")[0], (n, "pydicom-data", px))
    bases = [first_frames[name] for name in CLEAN_BASES]
    seen_mod: Counter = Counter()
    for path, modality, px in synthetic:
        if "/test/" in path and seen_mod[modality] < 10:
            bases.append((path, f"synthetic {modality}", px))
            seen_mod[modality] += 1
    planted, skipped = measure_planted(bases)

    rows = [("pydicom-data frames without text (false positives)", _rate(sum(d[3] for d in clean), len(clean))),
            ("  of them text-prone (US, SC, SECONDARY)", _rate(sum(d[3] for d in clean if d[1]),
                                                              sum(1 for d in clean if d[1]))),
            ("pydicom-data frames with text (detected)", _rate(sum(d[3] for d in texty), len(texty))),
            ("synthetic default (false positives)", _rate(sum(synth_fp.values()), len(synth)))]
    rows += [(f"  synthetic {m}", _rate(synth_fp[m], by_modality[m])) for m in sorted(by_modality)]
    rows.append(("planted text (detected)", _rate(sum(p["found"] for p in planted), len(planted))))
    for key, label in (("kind", ""), ("size", "font px "), ("contrast", "contrast "), ("corner", "corner ")):
        for value in sorted({p[key] for p in planted}, key=str):
            group = [p for p in planted if p[key] == value]
            rows.append((f"  {label}{value}", _rate(sum(p["found"] for p in group), len(group))))
    missed = sorted({(p["base"], p["size"], p["contrast"], p["corner"]) for p in planted if not p["found"]})
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "pydicom_data": {"frames": len(dicom), "without_text": len(clean), "with_text": len(texty),
                         "false_positives": sorted(d[0] for d in clean if d[3]),
                         "missed": sorted(d[0] for d in texty if not d[3]),
                         "ms_per_frame": round(1000 * seconds_dicom / len(dicom), 1)},
        "synthetic": {"images": len(synth), "false_positives": dict(synth_fp),
                      "false_positive_paths": sorted(p for p, _, f in synth if f)[:50]},
        "planted": {"images": len(planted), "found": sum(p["found"] for p in planted),
                    "missed": [list(m) for m in missed][:100], "skipped": dict(skipped)},
        "seconds": round(time.perf_counter() - started, 1),
        "rates": dict(rows),
    }
    text = md_table(rows, ("images", "flagged")) + (
        f"\n{len(dicom)} pydicom-data frames at {result['pydicom_data']['ms_per_frame']} ms each; "
        f"{result['seconds']} s in all.\n")
    write_results("burned_in_text", result, text)
    print(text)
    if result["pydicom_data"]["false_positives"] or result["pydicom_data"]["missed"]:
        print("pydicom-data false positives:", result["pydicom_data"]["false_positives"],
              "missed:", result["pydicom_data"]["missed"])
    if missed:
        print(f"planted, missed ({len(missed)}):", missed[:30])


if __name__ == "__main__":
    main()
