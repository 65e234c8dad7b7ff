"""The report's evaluation sets in CLIP_benchmark's `wds` layout, so that the community's scorer runs on the
same images, labels, prompts and captions as the report:

    python -m assets.report.clip_benchmark_export OUT [--pairs data/curated/curated_pairs.parquet]
        [--catalog pipelines/catalog.yaml] [--suite SUITE.yaml] [--sources a,b]

writes, for every task of the suite (as the benchmark_report asset builds them), OUT/<source>/; a zero-shot
task's folder holds

    classnames.txt                          the class names, one a line, in label order
    zeroshot_classification_prompts.json    {source: {class name: [prompts]}}: each class's prompts as the
                                            report encodes them (clip_benchmark's --custom_template_file)
    zeroshot_classification_templates.txt   `{c}` templates, only when every class's prompts are the same
                                            templates filled with its name (then no JSON is needed)
    <split>/nshards.txt, <split>/0.tar, ... shards of `<key>.png|jpg|webp` (the image bytes the report
                                            reads) and `<key>.cls` (the label's index)

and a retrieval task's `dataset_type.txt` (retrieval) and shards of images with `<key>.txt` (its captions, one
a line): what clip_benchmark 1.6.2's `build_wds_dataset` reads. Score one with
`clip_benchmark eval --dataset wds/<source> --dataset_root OUT/<source> --custom_template_file
OUT/<source>/zeroshot_classification_prompts.json --model ... --pretrained ... --no_amp` (a retrieval set
with `--task zeroshot_retrieval` instead of the template file).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import shutil
from collections.abc import Sequence

from PIL import Image

from assets.report.suite import build_tasks, load_suite
from assets.sources.catalog_yaml import load_catalog
from models.clip.evaluate import ZeroShotTask
from models.clip.retrieval import RetrievalTask

log = logging.getLogger(__name__)

PROMPTS_FILE = "zeroshot_classification_prompts.json"
TEMPLATES_FILE = "zeroshot_classification_templates.txt"
# The image extensions clip_benchmark's wds loader decodes, by PIL format.
IMAGE_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
SAMPLES_PER_SHARD = 10_000  # clip_benchmark's own exporter's default


def shared_templates(class_names: Sequence[str], prompts: Sequence[Sequence[str]]) -> list[str] | None:
    """The `{c}` templates that, filled with each class name, give every class's prompts; None when the
    prompts are not one template list filled (synonyms, descriptions, per-class ensembles)."""
    first = class_names[0]
    templates = [p.replace("{", "{{").replace("}", "}}").replace(first, "{c}") for p in prompts[0]]
    filled = [[t.format(c=name) for t in templates] for name in class_names]
    return templates if filled == [list(p) for p in prompts] else None


def _image_and_extension(data: bytes) -> tuple[bytes, str]:
    """The image as clip_benchmark can decode it: its own bytes when PNG, JPEG or WebP, else lossless PNG of
    the RGB pixels the report scores."""
    with Image.open(io.BytesIO(data)) as img:
        ext = IMAGE_EXTENSIONS.get(img.format or "")
        if ext:
            return data, ext
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="PNG")
    return buf.getvalue(), "png"


def _write_dataset(out_dir: str, split: str, files: dict[str, str], samples: Sequence[dict],
                   samples_per_shard: int) -> int:
    """`files` (name: text) and the samples' shards `<split>/0.tar`, ... with `nshards.txt` under `out_dir`,
    written beside it and moved in whole (replacing what was there); returns the number of shards."""
    import webdataset as wds

    tmp = f"{out_dir}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, split))
    for name, text in files.items():
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    shards = max(1, -(-len(samples) // samples_per_shard))
    for shard in range(shards):
        with wds.TarWriter(os.path.join(tmp, split, f"{shard}.tar")) as sink:
            for sample in samples[shard * samples_per_shard:(shard + 1) * samples_per_shard]:
                sink.write(sample)
    with open(os.path.join(tmp, split, "nshards.txt"), "w") as f:
        f.write(f"{shards}\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return shards


def _image_sample(i: int, data: bytes, **fields) -> dict:
    image, ext = _image_and_extension(data)
    return {"__key__": f"s{i:07d}", ext: image, **fields}


def export_zero_shot_task(task: ZeroShotTask, out_dir: str, split: str = "test",
                          samples_per_shard: int = SAMPLES_PER_SHARD) -> dict:
    """One zero-shot task in CLIP_benchmark's wds layout under `out_dir`; returns what was written."""
    files = {"classnames.txt": "".join(f"{name}\n" for name in task.class_names),
             PROMPTS_FILE: json.dumps({task.source: dict(zip(task.class_names, task.prompts))}, indent=1)}
    templates = shared_templates(task.class_names, task.prompts)
    if templates:
        files[TEMPLATES_FILE] = "".join(f"{t}\n" for t in templates)
    samples = [_image_sample(i, image, cls=int(label)) for i, (image, label) in enumerate(zip(task.images, task.labels))]
    shards = _write_dataset(out_dir, split, files, samples, samples_per_shard)
    return {"source": task.source, "task": "zeroshot_classification", "dir": out_dir, "samples": len(samples),
            "classes": len(task.class_names), "shards": shards, "templates": templates is not None}


def export_retrieval_task(task: RetrievalTask, out_dir: str, split: str = "test",
                          samples_per_shard: int = SAMPLES_PER_SHARD) -> dict:
    """One retrieval task in CLIP_benchmark's wds layout (`dataset_type.txt`: retrieval; `<key>.txt`: the
    image's captions, one a line, a caption's own line breaks made spaces, which both tokenizers read alike)."""
    samples = [_image_sample(i, image, txt="\n".join(" ".join(c.splitlines()) for c in captions))
               for i, (image, captions) in enumerate(zip(task.images, task.captions))]
    shards = _write_dataset(out_dir, split, {"dataset_type.txt": "retrieval\n"}, samples, samples_per_shard)
    return {"source": task.source, "task": "zeroshot_retrieval", "dir": out_dir, "samples": len(samples),
            "texts": sum(len(c) for c in task.captions), "shards": shards}


def export_suite(curated_pairs: str, catalog: str, out_dir: str, *, suite: str = "",
                 sources: Sequence[str] = ()) -> list[dict]:
    """Every task of `suite` on `curated_pairs` (or those of `sources`), each in OUT/<source>/."""
    spec = load_suite(suite)
    tasks = build_tasks(spec, load_catalog(catalog), curated_pairs)
    for note in tasks.notes:
        log.info("not exported: %s", note)
    found = {t.source for t in (*tasks.zero_shot, *tasks.retrieval)}
    missing = sorted(set(sources) - found)
    if missing:
        raise ValueError(f"no task for {missing} in the suite's {spec.split!r} split (tasks: {sorted(found)})")
    wanted = set(sources) or found
    return [*(export_zero_shot_task(t, os.path.join(out_dir, t.source), spec.split)
              for t in tasks.zero_shot if t.source in wanted),
            *(export_retrieval_task(t, os.path.join(out_dir, t.source), spec.split)
              for t in tasks.retrieval if t.source in wanted)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder to write one CLIP_benchmark wds dataset per source into")
    parser.add_argument("--pairs", default="data/curated/curated_pairs.parquet", help="the curated pairs")
    parser.add_argument("--catalog", default=os.environ.get("MEDPAIRS_CATALOG", "pipelines/catalog.yaml"),
                        help="the source catalog (default: $MEDPAIRS_CATALOG or pipelines/catalog.yaml)")
    parser.add_argument("--suite", default="", help="the evaluation suite YAML (default: the report's suite.yaml)")
    parser.add_argument("--sources", default="", help="comma-separated sources to export (default: every one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sources = [s for s in args.sources.split(",") if s]
    for row in export_suite(args.pairs, args.catalog, args.out, suite=args.suite, sources=sources):
        if row["task"] == "zeroshot_retrieval":
            what = f"{row['texts']} captions, retrieval"
        else:
            what = f"{row['classes']} classes, " + ("templates" if row["templates"] else f"per-class prompts ({PROMPTS_FILE})")
        print(f"{row['source']}: {row['samples']} images, {what}, {row['shards']} shard(s) -> {row['dir']}")


if __name__ == "__main__":
    main()
