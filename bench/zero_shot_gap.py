"""Where a run's zero-shot classification fails: in the image tower or in the text tower.

With the run's own checkpoint, the test images of every classification source are classified three
ways: by the report's prompt ensembles (what the benchmark report scores), by each class's LLM training
captions (the renormalized mean embedding of its valid captions, as a prompt ensemble is made), and by
the nearest centroid of the class's training-image embeddings (no text at all). Image centroids near
chance: the image tower does not separate the classes (look at the images at the model's resolution).
Captions well above prompts: the text tower does not carry the template prompts to where it put the
captions. Also, per source, the cosine of each class's prompt ensemble with each class's caption
centroid, and of the caption centroids with one another. Reads a storage root as `make demo` leaves it
(curated pairs, class captions, clip_model's run). Writes bench/results/zero_shot_gap.{json,md}. Usage:
    python -m bench.zero_shot_gap [--data data] [--catalog pipelines/catalog.yaml] [--sources a,b]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import pyarrow.parquet as pq

from assets.report.suite import build_tasks, load_suite
from assets.shared import layout
from assets.shared.metadata import md_table
from assets.sources.catalog_yaml import load_catalog
from assets.training.runs import read_run_pointer
from bench.output import write_results
from bench.training import valid_captions


def training_images(curated_pairs: str) -> dict[tuple[str, str], list[bytes]]:
    """The training images of each (source, label) of the curated pairs."""
    by_class: dict[tuple[str, str], list[bytes]] = {}
    for r in pq.read_table(curated_pairs, columns=["source", "label", "split", "image"]).to_pylist():
        if r["split"] == "train":
            by_class.setdefault((r["source"], r["label"]), []).append(r["image"]["bytes"])
    return by_class


def diagnose(bundle, task, captions: dict[tuple[str, str], list[str]],
             train: dict[tuple[str, str], list[bytes]]) -> dict:
    """One task's row: `captions` and `train` are by (source, label), as valid_captions and training_images give them."""
    import torch

    from models.clip.zeroshot import classifier_from_prompts, encode_images

    keys = [(task.source, c) for c in task.class_names]
    captions, train = [captions.get(k, []) for k in keys], [train.get(k, []) for k in keys]
    images = encode_images(bundle.model, bundle.preprocess, task.images)
    prompts = classifier_from_prompts(bundle.model, bundle.tokenizer, task.prompts)  # [D, C]
    row = {"source": task.source, "classes": task.class_names, "test_images": len(task.images),
           "chance": round(1 / len(task.class_names), 3),
           "prompts": float(np.mean((images @ prompts).argmax(1).numpy() == task.labels))}
    if all(captions):
        by_captions = classifier_from_prompts(bundle.model, bundle.tokenizer, captions)
        row["captions"] = float(np.mean((images @ by_captions).argmax(1).numpy() == task.labels))
        row["prompt_vs_caption_cosine"] = _rounded(prompts.T @ by_captions)
        row["caption_vs_caption_cosine"] = _rounded(by_captions.T @ by_captions)
    if all(train):
        embedded = encode_images(bundle.model, bundle.preprocess, [image for images in train for image in images])
        centroids = torch.stack([torch.nn.functional.normalize(part.mean(0), dim=0)
                                 for part in embedded.split([len(images) for images in train])])
        row["image_centroids"] = float(np.mean((images @ centroids.T).argmax(1).numpy() == task.labels))
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def _rounded(matrix) -> list[list[float]]:
    return [[round(float(v), 3) for v in row] for row in matrix.tolist()]


def run(data: str, catalog: str, sources: list[str]) -> list[dict]:
    from models.clip.model_configs import register_model_configs
    from models.clip.zeroshot import load_clip

    register_model_configs()
    pointer = read_run_pointer(os.path.join(data, layout.TRAINING), layout.TRAINING_RUN)
    bundle = load_clip(pointer["model"], pointer["checkpoint"])
    curated = os.path.join(data, layout.CURATED_PAIRS)
    tasks = [t for t in build_tasks(load_suite(), load_catalog(catalog), curated).zero_shot
             if not sources or t.source in sources]
    captions, train = valid_captions(os.path.join(data, layout.CLASS_CAPTIONS)), training_images(curated)
    return [diagnose(bundle, t, captions, train) for t in tasks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("MEDPAIRS_STORAGE_ROOT", "data"), help="the storage root")
    parser.add_argument("--catalog", default=os.environ.get("MEDPAIRS_CATALOG", "pipelines/catalog.yaml"))
    parser.add_argument("--sources", default="", help="sources, comma-separated (default: every one benchmarked)")
    args = parser.parse_args()
    rows = run(args.data, args.catalog, [s for s in args.sources.split(",") if s])
    table = md_table([(r["source"], r["test_images"], r["chance"], r["prompts"], r.get("captions", "-"),
                       r.get("image_centroids", "-")) for r in rows],
                     ("source", "test images", "chance", "prompts (the report)", "class captions", "image centroids"))
    cosines = "\n".join(f"- {r['source']} {r['classes']}: caption centroids' cosines {r['caption_vs_caption_cosine']}"
                        for r in rows if "caption_vs_caption_cosine" in r)
    write_results("zero_shot_gap", {"data": os.path.abspath(args.data), "sources": rows}, f"{table}\n\n{cosines}\n")
    print(table, cosines, sep="\n\n")


if __name__ == "__main__":
    main()
