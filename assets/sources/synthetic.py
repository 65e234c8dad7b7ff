"""The embedded default dataset: six small synthetic sources, one per modality, drawn from a seed.

Class names are real clinical labels (MedMNIST, BUSI, the Kaggle brain-tumour MRI and CT-kidney
sets, ODIR fundus); the images are drawings whose classes differ visibly, so a CLIP model
trained on them must beat chance on the held-out split and a broken pipeline must not.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from pathlib import Path

import fsspec
import numpy as np
from PIL import Image

from assets.shared.files import atomic_write
from assets.shared.images import encode_png
from assets.sources.catalog import ClassInfo, SourceSpec
from assets.sources.synthetic_draw import DRAWERS, Canvas

log = logging.getLogger(__name__)

SYNTHETIC_LICENSE = "CC0 (synthetic)"
SPLITS = ("train", "test")
# Images drawn at once: float32 temporaries stay near 128 KiB, where glibc malloc neither
# mmaps nor trims them (bigger batches spent a third of their time in page faults).
_BATCH_PIXELS = 32768


def _source(name: str, modality: str, classes: list[tuple[str, str, tuple[str, ...]]]) -> SourceSpec:
    return SourceSpec(
        name=name, modality=modality, kind="classification",
        classes=tuple(ClassInfo(n, d, s) for n, d, s in classes),
        location="embedded:synthetic", license=SYNTHETIC_LICENSE, synthetic=True,
    )


# Class order is the drawer's class index (see synthetic_draw.py).
SYNTHETIC_SOURCES: tuple[SourceSpec, ...] = (
    _source("synthetic_xray", "xray", [
        ("normal", "A chest radiograph with clear lungs and a normal-sized heart.",
         ("clear lungs", "unremarkable chest radiograph", "no acute cardiopulmonary findings")),
        ("pneumonia", "A chest radiograph with a patchy airspace opacity in one lung.",
         ("consolidation", "airspace opacity", "lung infection", "infiltrate")),
        ("cardiomegaly", "A chest radiograph with an enlarged cardiac silhouette.",
         ("enlarged heart", "enlarged cardiac silhouette", "cardiac enlargement")),
    ]),
    _source("synthetic_ct", "ct", [
        ("normal", "An axial abdominal CT slice with kidneys of uniform enhancement.",
         ("unremarkable kidneys", "no renal lesion", "healthy kidneys")),
        ("cyst", "An axial abdominal CT slice with a round, sharply marginated fluid-density renal lesion.",
         ("renal cyst", "simple cyst", "fluid-filled renal lesion")),
        ("stone", "An axial abdominal CT slice with a small, very dense calcification in a kidney.",
         ("kidney stone", "renal calculus", "nephrolithiasis", "urolithiasis")),
        ("tumor", "An axial abdominal CT slice with a large heterogeneous solid mass arising from a kidney.",
         ("renal mass", "renal cell carcinoma", "kidney tumour", "solid renal neoplasm")),
    ]),
    _source("synthetic_mri", "mri", [
        ("glioma", "An axial brain MRI with an intra-axial ring-enhancing mass, necrotic centre and oedema.",
         ("glioblastoma", "astrocytoma", "glial neoplasm", "intra-axial brain neoplasm")),
        ("meningioma", "An axial brain MRI with a homogeneously enhancing extra-axial mass along the skull.",
         ("extra-axial mass", "dural-based mass", "meningeal neoplasm")),
        ("pituitary tumor", "An axial brain MRI with an enhancing midline sellar mass.",
         ("pituitary adenoma", "pituitary macroadenoma", "sellar mass")),
        ("no tumor", "An axial brain MRI with normal brain parenchyma and no mass.",
         ("normal brain", "unremarkable brain MRI", "no intracranial mass")),
    ]),
    _source("synthetic_ultrasound", "ultrasound", [
        ("normal", "A breast ultrasound with normal layered breast tissue and no focal lesion.",
         ("no focal lesion", "unremarkable breast ultrasound", "normal breast tissue")),
        ("benign", "A breast ultrasound with an oval, circumscribed, hypoechoic mass wider than tall.",
         ("fibroadenoma", "benign breast mass", "circumscribed hypoechoic mass")),
        ("malignant", "A breast ultrasound with an irregular, spiculated mass taller than wide with shadowing.",
         ("breast carcinoma", "breast cancer", "invasive ductal carcinoma", "spiculated mass")),
    ]),
    _source("synthetic_pathology", "pathology", [
        ("adipose", "An H&E colon tissue patch of large empty fat cells with thin membranes.",
         ("adipose tissue", "fat tissue", "adipocytes")),
        ("lymphocytes", "An H&E colon tissue patch densely packed with small dark round nuclei.",
         ("lymphocytic infiltrate", "lymphoid aggregate", "lymphoid tissue")),
        ("mucus", "An H&E colon tissue patch of pale, wispy extracellular mucin with few cells.",
         ("mucin", "mucinous material", "extracellular mucin")),
        ("colorectal adenocarcinoma epithelium",
         "An H&E colon tissue patch of malignant glands lined by crowded atypical nuclei in pink stroma.",
         ("adenocarcinoma", "tumor epithelium", "malignant glandular epithelium", "colorectal carcinoma")),
    ]),
    _source("synthetic_fundus", "fundus", [
        ("normal", "A colour fundus photograph of a healthy retina with a small optic cup.",
         ("healthy retina", "unremarkable fundus", "normal fundus")),
        ("diabetic retinopathy", "A colour fundus photograph with retinal haemorrhages and yellow hard exudates.",
         ("retinal haemorrhages", "hard exudates", "microaneurysms", "diabetic eye disease")),
        ("glaucoma", "A colour fundus photograph with a large pale optic cup (high cup-to-disc ratio).",
         ("optic disc cupping", "glaucomatous optic neuropathy", "enlarged cup-to-disc ratio")),
        ("cataract", "A blurred, hazy colour fundus photograph seen through an opaque lens.",
         ("lens opacity", "cataractous lens", "hazy fundus")),
    ]),
)


def synthetic_manifest_spec(spec: SourceSpec, synthetic_dir: str) -> SourceSpec:
    """A synthetic catalog source as what the generator wrote for it under `synthetic_dir`: a
    JSONL manifest read by the jsonl reader like any other manifest."""
    return dataclasses.replace(spec, format="jsonl", location=f"{synthetic_dir}/{spec.name}/manifest.jsonl")


def class_slug(name: str) -> str:
    """Folder name for a class: lower case, runs of other characters become one underscore."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def draw_class(modality: str, class_index: int, n: int, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """n images of one class as uint8: (n, H, W) grayscale or (n, H, W, 3) RGB."""
    out, batch = [], max(1, _BATCH_PIXELS // (image_size * image_size))
    for start in range(0, n, batch):
        img = DRAWERS[modality](Canvas(rng, min(batch, n - start), image_size), class_index)
        img = (img * 255 + 0.5).astype(np.uint8)
        img = np.ascontiguousarray(img.transpose(0, 2, 3, 1)) if img.ndim == 4 else img
        out.append(np.stack([_vary_pose(a, rng) for a in img]))
    return np.concatenate(out) if out else np.zeros((0, image_size, image_size), np.uint8)


def _vary_pose(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One image as another acquisition would frame it: zoomed in 8-20%, turned up to 4 degrees and
    shifted within the zoom margin (no border appears), exposure varied by a gamma of 0.8-1.25.
    Without it, images of one class drawn from one template sit within a few pHash bits of each
    other and curation rightly takes them for near duplicates."""
    size = pixels.shape[0]
    zoom, angle = rng.uniform(1.08, 1.2), np.deg2rad(rng.uniform(-4, 4))
    margin = (zoom - 1.07) / 2 * size
    shift = rng.uniform(-margin, margin, 2)
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    centre = (size - 1) / 2
    # Output (x, y) samples input (a x + b y + c, d x + e y + f): rotation and zoom about the centre.
    coeffs = (cos, sin, centre - cos * centre - sin * centre + shift[0],
              -sin, cos, centre + sin * centre - cos * centre + shift[1])
    moved = np.asarray(Image.fromarray(pixels).transform((size, size), Image.AFFINE, coeffs, Image.BILINEAR))
    gamma = rng.uniform(0.8, 1.25)
    return (np.power(moved / 255.0, gamma) * 255 + 0.5).astype(np.uint8)


def _write_jsonl(fs, path: str, rows: list[dict]) -> None:
    """Rows as JSON lines, written under a temporary name and renamed when complete."""
    atomic_write(fs, path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode())


def generate_synthetic_dataset(
    out_dir: str | Path, *, train_per_class: int = 60, test_per_class: int = 20,
    image_size: int = 128, seed: int = 0, storage_options: dict | None = None,
) -> tuple[list[dict], dict]:
    """Writes PNGs to out_dir/{source}/{split}/{class_slug}/{index:05d}.png, one manifest per source
    (out_dir/{source}/manifest.jsonl, paths relative to the source folder, read by the catalog's
    jsonl reader) and out_dir/manifest.jsonl of every image. `out_dir` is a local folder or an
    fsspec URL (s3://...). Returns (rows, stats): rows are dicts {path (relative to out_dir),
    source, modality, label, split}; stats has counts per source/split and total."""
    fs, out = fsspec.core.url_to_fs(str(out_dir), **(storage_options or {}))
    counts = {"train": train_per_class, "test": test_per_class}
    rows: list[dict] = []
    per_source: dict[str, dict[str, int]] = {}
    started = time.perf_counter()
    for si, spec in enumerate(SYNTHETIC_SOURCES):
        if fs.exists(f"{out}/{spec.name}"):
            fs.rm(f"{out}/{spec.name}", recursive=True)  # a re-run replaces its output whole
        per_source[spec.name] = {split: 0 for split in SPLITS}
        source_rows = []
        for ci, cls in enumerate(spec.classes):
            for sp, split in enumerate(SPLITS):
                # One stream per (source, class, split): changing one count never changes the others.
                rng = np.random.default_rng([seed, si, ci, sp])
                folder = f"{split}/{class_slug(cls.name)}"
                fs.makedirs(f"{out}/{spec.name}/{folder}", exist_ok=True)
                for i, pixels in enumerate(draw_class(spec.modality, ci, counts[split], image_size, rng)):
                    fs.pipe_file(f"{out}/{spec.name}/{folder}/{i:05d}.png", encode_png(pixels))
                    source_rows.append({"path": f"{folder}/{i:05d}.png", "source": spec.name,
                                        "modality": spec.modality, "label": cls.name, "split": split})
                per_source[spec.name][split] += counts[split]
        _write_jsonl(fs, f"{out}/{spec.name}/manifest.jsonl", source_rows)
        rows.extend({**r, "path": f"{spec.name}/{r['path']}"} for r in source_rows)
    _write_jsonl(fs, f"{out}/manifest.jsonl", rows)
    seconds = time.perf_counter() - started
    stats = {
        "per_source": per_source,
        "per_split": {s: sum(p[s] for p in per_source.values()) for s in SPLITS},
        "total": len(rows),
        "image_size": image_size,
        "seed": seed,
        "seconds": round(seconds, 3),
        "images_per_s": round(len(rows) / seconds, 1) if seconds > 0 else None,
    }
    log.info("synthetic dataset: %d images in %.2fs under %s", len(rows), seconds, out)
    return rows, stats


def ensure_synthetic_dataset(out_dir: str, *, code_version: str, storage_options: dict | None = None,
                             **settings) -> tuple[list[dict], dict, bool]:
    """generate_synthetic_dataset(out_dir, **settings) unless out_dir already holds the dataset of
    these settings and `code_version` (its _generated.json says so), so files, their times and
    everything downstream stay as they are. Returns (rows, stats, whether it was skipped)."""
    fs, out = fsspec.core.url_to_fs(str(out_dir), **(storage_options or {}))
    stamp_path = f"{out}/_generated.json"
    wanted = {"settings": settings, "code_version": code_version}
    if fs.exists(stamp_path) and fs.exists(f"{out}/manifest.jsonl"):
        stamp = json.loads(fs.cat_file(stamp_path))
        if {k: stamp.get(k) for k in wanted} == wanted:
            rows = [json.loads(line) for line in fs.cat_file(f"{out}/manifest.jsonl").decode().splitlines()]
            return rows, stamp["stats"], True
    if fs.exists(stamp_path):
        fs.rm(stamp_path)  # the files are about to change
    rows, stats = generate_synthetic_dataset(out_dir, storage_options=storage_options, **settings)
    fs.pipe_file(stamp_path, json.dumps({**wanted, "stats": stats}, sort_keys=True).encode())
    return rows, stats, False
