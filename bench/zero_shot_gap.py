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


def class_captions(path: str, source: str, classes: list[str]) -> list[list[str]]:
    """The valid LLM captions of each class of `source`, in the order of `classes`."""
    rows = pq.read_table(path, columns=["source", "label", "caption", "status"]).to_pylist()
    return [[r["caption"] for r in rows if r["source"] == source and r["label"] == c and r["status"] == "valid"]
            for c in classes]


def training_images(curated_pairs: str, source: str, classes: list[str]) -> tuple[list[bytes], np.ndarray]:
    table = pq.read_table(curated_pairs, columns=["source", "label", "split", "image"]).to_pylist()
    rows = [r for r in table if r["source"] == source and r["split"] == "train" and r["label"] in classes]
    return [r["image"]["bytes"] for r in rows], np.array([classes.index(r["label"]) for r in rows])


def diagnose(bundle, task, captions: list[list[str]], train: tuple[list[bytes], np.ndarray]) -> dict:
    import torch

    from models.clip.zeroshot import classifier_from_prompts, encode_images

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
    train_images, train_labels = train
    if all((train_labels == k).any() for k in range(len(task.class_names))):
        embedded = encode_images(bundle.model, bundle.preprocess, train_images)
        centroids = torch.stack([torch.nn.functional.normalize(embedded[train_labels == k].mean(0), dim=0)
                                 for k in range(len(task.class_names))])
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
    return [diagnose(bundle, t, class_captions(os.path.join(data, layout.CLASS_CAPTIONS), t.source, t.class_names),
                     training_images(curated, t.source, t.class_names)) for t in tasks]


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
