"""A small storage root as the pipeline leaves it before the report: curated pairs of two classification
sources and one image-text source (drawn PNGs whose classes differ visibly), a curation log, and a real
one-epoch open_clip_train run of the tiny config on them (and of the shuffled control, through its asset); scores of two models on these tasks drawn without a
model; and what a reader of a rendered report.html must see in Chromium."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from assets.report.render import browser
from assets.shared import layout
from assets.sources.catalog import ClassInfo, SourceSpec

CLASSES = {
    "toy_xray": (ClassInfo("left lesion", "A chest radiograph with a bright lesion in the left lung.", ("left opacity",)),
                 ClassInfo("right lesion", "A chest radiograph with a bright lesion in the right lung.")),
    "toy_ct": (ClassInfo("upper mass"), ClassInfo("middle mass"), ClassInfo("lower mass")),
}
SOURCES = [
    SourceSpec("toy_xray", "xray", classes=CLASSES["toy_xray"], synthetic=True),
    SourceSpec("toy_ct", "ct", classes=CLASSES["toy_ct"], synthetic=True),
    SourceSpec("toy_reports", "xray", kind="image_text", synthetic=True),
]
CATALOG_YAML = """
sources:
  - name: toy_xray
    modality: xray
    format: csv
    location: unused.csv
    classes:
      - {name: left lesion, description: A chest radiograph with a bright lesion in the left lung., synonyms: [left opacity]}
      - {name: right lesion, description: A chest radiograph with a bright lesion in the right lung.}
  - {name: toy_ct, modality: ct, format: csv, location: unused.csv, classes: [upper mass, middle mass, lower mass]}
  - {name: toy_reports, modality: xray, kind: image_text, format: csv, location: unused.csv}
"""


def draw(source: str, index: int, rng: np.random.Generator) -> bytes:
    """A 64 px PNG: noise plus a bright square whose place says the class."""
    img = rng.integers(0, 60, (64, 64), dtype=np.uint8)
    if source == "toy_ct":
        y, x = (6, 24, 42)[index], 24
    else:
        y, x = 24, (6, 42)[index]
    img[y : y + 16, x : x + 16] = 230
    buf = io.BytesIO()
    Image.fromarray(img).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def _rows(per_class_train: int, per_class_test: int, rng: np.random.Generator) -> list[dict]:
    rows = []
    for source, classes in CLASSES.items():
        modality = "xray" if source == "toy_xray" else "ct"
        for split, n in (("train", per_class_train), ("test", per_class_test)):
            for c, cls in enumerate(classes):
                for i in range(n):
                    rows.append({"sample_id": f"{source}-{split}-{c}-{i}", "source": source, "modality": modality,
                                 "label": cls.name, "split": split, "image": draw(source, c, rng),
                                 "captions": [f"An image showing a {cls.name}.", f"This scan shows a {cls.name}."]})
    sides = ("left", "right")
    for split, n in (("train", 16), ("test", 12)):
        for i in range(n):
            side = i % 2
            rows.append({"sample_id": f"toy_reports-{split}-{i}", "source": "toy_reports", "modality": "xray",
                         "label": None, "split": split, "image": draw("toy_reports", side, rng),
                         "captions": [f"Report {i}: a focal opacity in the {sides[side]} lung."]})
    return rows


def write_pairs(root: Path, per_class_train: int = 16, per_class_test: int = 6) -> Path:
    """curated_pairs.parquet and curation_log.parquet under `root` as the pipeline lays them out."""
    rows = _rows(per_class_train, per_class_test, np.random.default_rng(0))
    pairs = root / layout.CURATED_PAIRS
    pairs.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({
        "sample_id": [r["sample_id"] for r in rows], "source": [r["source"] for r in rows],
        "modality": [r["modality"] for r in rows], "label": [r["label"] for r in rows],
        "split": [r["split"] for r in rows],
        "image": pa.array([{"bytes": r["image"], "path": None} for r in rows],
                          type=pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        "image_format": ["png"] * len(rows), "captions": [r["captions"] for r in rows],
    })
    pq.write_table(table, pairs)
    pq.write_table(pa.table({
        "sample_id": ["d1", "d2", "d3"], "source": ["toy_xray", "toy_xray", "toy_ct"], "modality": ["xray", "xray", "ct"],
        "label": ["left lesion", "right lesion", "upper mass"], "split": ["train"] * 3,
        "reason": ["exact_duplicate", "evaluation_duplicate", "exact_duplicate"], "duplicate_of": ["a", "b", "c"],
    }), root / layout.CURATION_LOG)
    return pairs


def train_tiny(root: Path) -> dict:
    """Export the training pairs and train the tiny config one epoch, as clip_model would (run pointer too)."""
    from assets.export.webdataset import export_shards
    from assets.training.runs import write_run_pointer
    from models.clip.train import TrainSettings, run_training

    settings = TrainSettings(epochs=1, batch_size=16, warmup=1, workers=1, log_every_n_steps=1)
    export = export_shards(str(root / layout.CURATED_PAIRS), str(root / layout.SHARDS), samples_per_shard=64)
    logs = root / layout.TRAINING
    logs.mkdir(parents=True, exist_ok=True)
    run_training(export["shards"], export["num_samples"], str(logs), layout.TRAINING_RUN, settings, timeout=300)
    return write_run_pointer(str(logs), layout.TRAINING_RUN, settings)


def train_control(root: Path) -> dict:
    """Materialize the shuffled_control asset on `root` (after `train_tiny`); its metadata."""
    import dagster as dg

    from assets.shared.storage import StorageResource
    from assets.training.defs import shuffled_control

    result = dg.materialize([shuffled_control], resources={
        "storage": StorageResource(root=str(root)), "pipes_subprocess_client": dg.PipesSubprocessClient()},
        run_config={"ops": {"shuffled_control": {"config": {"samples_per_shard": 64}}}})
    assert result.success
    return {k: v.value for k, v in result.asset_materializations_for_node("shuffled_control")[0].metadata.items()}


# Data composition as assets/report/composition.py counts it, for render tests.
COMPOSITION = {
    "kept": [{"modality": "xray", "source": "toy_xray", "split": "train", "count": 32},
             {"modality": "xray", "source": "toy_xray", "split": "test", "count": 12},
             {"modality": "ct", "source": "toy_ct", "split": "test", "count": 18}],
    "kept_total": 62, "kept_by_modality": {"ct": 18, "xray": 44}, "kept_by_source": {}, "kept_by_split": {},
    "kept_by_caption_origin_and_split": [{"caption_origin": "llm", "split": "train", "count": 20},
                                         {"caption_origin": "template", "split": "train", "count": 12},
                                         {"caption_origin": "none", "split": "test", "count": 30}],
    "kept_by_caption_origin": {"llm": 20, "none": 30, "template": 12},
    "dropped": [{"source": "toy_xray", "reason": "exact_duplicate", "count": 3}], "dropped_total": 3,
    "dropped_by_reason": {"exact_duplicate": 3},
    "mixture": {"toy_xray": {"weight": 2.0, "cap": None, "train_pairs": 32, "exported_pairs": 32, "samples": 64,
                             "dropped": {}}},
}


def scored_evaluation(n_resamples: int = 200):
    """An Evaluation of two models on the toy tasks from drawn similarity scores (no model needed): "trained"
    sees the class, "untrained" does not."""
    from assets.report.suite import Tasks
    from models.clip.entries import Evaluation
    from models.clip.evaluate import ZeroShotTask, classification_metrics
    from models.clip.retrieval import RetrievalTask, retrieval_metrics

    rng = np.random.default_rng(0)
    tasks = Tasks([], [], ["toy_extra: no samples in the 'test' split"])
    evaluation = Evaluation()
    for name, signal in (("trained", 1.5), ("untrained", 0.0)):
        evaluation.models[name] = {"kind": name, "description": f"the {name} model", "status": "ok", "error": None}
        evaluation.zero_shot[name], evaluation.retrieval[name] = [], []
        for spec in SOURCES[:2]:
            k = len(spec.classes)
            y = np.arange(40) % k
            scored = classification_metrics(y, rng.normal(size=(40, k)) + signal * np.eye(k)[y], n_resamples=n_resamples)
            scored.row = {"source": spec.name, "modality": spec.modality, "class_names": spec.class_names(),
                          "split_fingerprint": "f" * 16, "skipped_samples": 0, **scored.row}
            evaluation.zero_shot[name].append(scored)
        owners = np.arange(12)
        r = retrieval_metrics(rng.normal(size=(12, 12)) + signal * np.eye(12), owners, n_resamples=n_resamples)
        r.row = {"source": "toy_reports", "modality": "xray", "split_fingerprint": "e" * 16, **r.row}
        evaluation.retrieval[name].append(r)
    evaluation.models["biomedclip"] = {"kind": "configured", "description": "hub model", "status": "failed",
                                       "error": "RuntimeError: hub unreachable"}
    evaluation.loss_curves["trained"] = [[16, 4.2], [32, 3.9], [48, 3.1], [64, 2.7]]
    for spec in SOURCES[:2]:
        tasks.zero_shot.append(ZeroShotTask(spec.name, spec.modality, spec.class_names(),
                                            [[f"an image of {c}."] for c in spec.class_names()], [b""] * 40,
                                            np.arange(40) % len(spec.classes), [str(i) for i in range(40)]))
    tasks.retrieval.append(RetrievalTask("toy_reports", "xray", [b""] * 12, [["c"]] * 12, [str(i) for i in range(12)]))
    return evaluation, tasks


def check_report_in_browser(report_dir) -> str:
    """Assert what a reader of report.html must see; returns the DOM."""
    dom = browser.dump_dom(str(report_dir / "report.html"))
    for sid in ("summary", "datasets", "confusion", "training", "composition", "published", "provenance"):
        assert re.search(rf'<section id="{sid}"', dom), sid
    assert len(re.findall(r"<svg[^>]*class=\"plot plot-bars", dom)) >= 2
    assert re.search(r'class="plot plot-confusion', dom) and re.search(r'class="plot plot-line', dom)
    assert len(re.findall(r'class="errorbar"', dom)) >= 2
    assert len(re.findall(r"<table", dom)) >= 6
    assert re.search(r'data-page-height="\d+"', dom)  # the page's script ran
    png = Image.open(report_dir / "report.png")
    height = int(re.search(r'data-page-height="(\d+)"', dom).group(1))
    assert png.size == (browser.WIDTH, min(height, 16000)) and png.size[1] > 1500
    pixels = np.asarray(png.convert("L"))
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.01  # not a blank page
    return dom
