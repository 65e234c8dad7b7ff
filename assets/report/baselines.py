"""The models a benchmark report compares: the trained CLIP, its untrained twin, a control trained on
captions shuffled against images, and any open_clip checkpoint the user configures. Each is loaded only
when its turn comes; one that cannot be loaded (or trained) is reported with its reason, and the others
are still scored."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

CONTROL_NAME = "shuffled_control"


@dataclass
class ModelEntry:
    """A model of the report: `load()` returns the loaded bundle and extra facts (e.g. a loss curve)."""

    name: str
    kind: str  # trained | untrained | shuffled_control | configured
    description: str
    load: Callable[[], tuple[object, dict]] = field(repr=False)


@dataclass(frozen=True)
class BaselineSpec:
    """A configured open_clip model: `[label=]model_name[:pretrained]`. `pretrained` is a checkpoint
    path (local or fsspec URL) or an open_clip tag ("openai"); a model name `hf-hub:org/repo` (e.g.
    BiomedCLIP's) takes config and weights from the Hugging Face hub and has no pretrained part."""

    label: str
    model: str
    pretrained: str | None

    @classmethod
    def parse(cls, spec: str) -> BaselineSpec:
        text = spec.strip()
        label = ""
        head, eq, tail = text.partition("=")
        if eq and ":" not in head and "/" not in head:
            label, text = head.strip(), tail.strip()
        if text.startswith("hf-hub:"):
            model, pretrained = text, None
        else:
            model, _, rest = text.partition(":")
            pretrained = rest or None
        if not model:
            raise ValueError(f"baseline {spec!r}: expected [label=]model_name[:pretrained] or hf-hub:org/repo")
        return cls(label or text, model, pretrained)


def configured_entry(spec: str, device: str = "cpu") -> ModelEntry:
    """The ModelEntry of one configured baseline spec (parse errors surface when it is loaded)."""
    def load():
        from models.clip.zeroshot import load_pretrained

        b = BaselineSpec.parse(spec)
        return load_pretrained(b.model, b.pretrained, device=device), {}

    try:
        name = BaselineSpec.parse(spec).label
    except ValueError:
        name = spec
    return ModelEntry(name, "configured", f"open_clip checkpoint `{spec}`", load)


def write_shuffled_pairs(curated_pairs: str, out: str, *, split: str = "train", seed: int = 0,
                         batch_rows: int = 512) -> dict:
    """A copy of the curated pairs in which the captions of the `split` rows are permuted against their
    images (a seeded permutation, so reruns agree); other rows are copied as they are. Streams the
    image bytes batch by batch. Returns {rows, shuffled, unchanged_pairs}."""
    with fsspec.open(curated_pairs, "rb") as f:
        small = pq.read_table(f, columns=["split", "captions"])
    rows = np.flatnonzero(np.asarray(small.column("split").to_pylist()) == split)
    perm = rows[np.random.default_rng(seed).permutation(rows.size)]
    captions = small.column("captions").to_pylist()
    new_captions = list(captions)
    for dst, src in zip(rows, perm):
        new_captions[dst] = captions[src]
    unchanged = int(np.sum(rows == perm))
    with fsspec.open(curated_pairs, "rb") as f_in, fsspec.open(out, "wb") as f_out:
        source = pq.ParquetFile(f_in)
        position = 0
        with pq.ParquetWriter(f_out, source.schema_arrow) as writer:
            for batch in source.iter_batches(batch_size=batch_rows):
                table = pa.Table.from_batches([batch])
                col = table.schema.get_field_index("captions")
                swapped = pa.array(new_captions[position:position + table.num_rows], type=table.schema.field(col).type)
                writer.write_table(table.set_column(col, table.schema.field(col), swapped))
                position += table.num_rows
    log.info("shuffled the captions of %d %s rows (%d kept their own)", rows.size, split, unchanged)
    return {"rows": small.num_rows, "shuffled": int(rows.size), "unchanged_pairs": unchanged}


def train_shuffled_control(curated_pairs: str, work_dir: str, settings, *, seed: int = 0,
                           samples_per_shard: int = 1000, timeout: float | None = None) -> dict:
    """Train the shuffled-caption control: shuffle the training captions (`write_shuffled_pairs`), export
    them as WebDataset shards and train with `models.clip.train.run_training` under `settings` (those of
    the trained run, so the control differs only in the pairing). Returns the run summary (checkpoint,
    loss curve, ...) with the shuffle stats. `work_dir` must be local (the trainer writes there)."""
    from assets.export.webdataset import export_shards
    from models.clip.train import run_training

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    shuffled = str(work / "shuffled_pairs.parquet")
    shuffle_stats = write_shuffled_pairs(curated_pairs, shuffled, seed=seed)
    export = export_shards(shuffled, str(work / "shards"), samples_per_shard=samples_per_shard, seed=seed)
    summary = run_training(export["shards"], export["num_samples"], str(work / "training"), CONTROL_NAME,
                           settings, timeout=timeout)
    return {**summary, "shuffle": shuffle_stats}


def standard_entries(run: dict, *, baseline_seed: int = 0, device: str = "cpu", loss_curve=None,
                     control: Callable[[], dict] | None = None, baselines: list[str] = ()) -> list[ModelEntry]:
    """The report's models in order: trained (the run pointer's checkpoint), untrained (same config,
    seeded init), the shuffled control when `control` (a function that trains it and returns its run
    summary) is given, then each configured baseline."""
    from models.clip.zeroshot import load_clip

    # A config with a Hugging Face text tower loads it from the folder the run trained with.
    text_tower = (run.get("settings") or {}).get("text_tower")
    entries = [
        ModelEntry("trained", "trained", f"`{run['model']}` trained by the clip_model asset",
                   lambda: (load_clip(run["model"], run["checkpoint"], device=device, text_tower=text_tower),
                            {"loss_curve": loss_curve or []})),
        ModelEntry("untrained", "untrained", f"`{run['model']}` as initialized before training (seed {baseline_seed})",
                   lambda: (load_clip(run["model"], None, seed=baseline_seed, device=device, text_tower=text_tower),
                            {})),
    ]
    if control is not None:
        def load_control():
            summary = control()
            return load_clip(run["model"], summary["checkpoint"], device=device, text_tower=text_tower), {
                "loss_curve": summary.get("loss_curve", []), "shuffle": summary.get("shuffle")}
        entries.append(ModelEntry(CONTROL_NAME, "shuffled_control",
                                  f"`{run['model']}` trained like the trained model on captions shuffled "
                                  "against images (should score at chance)", load_control))
    entries += [configured_entry(spec, device) for spec in baselines]
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"model names repeat (label configured baselines apart): {names}")
    return entries


def control_trainer(curated_pairs: str, settings: dict, work_dir: str, *, seed: int = 0) -> Callable[[], dict]:
    """A function that trains the shuffled-caption control with the trained run's `settings` (a
    TrainSettings dict) in `work_dir` (a temp folder when that is remote) and returns its run summary."""
    def train() -> dict:
        import tempfile

        from models.clip.train import TrainSettings

        local = tempfile.mkdtemp(prefix="medpairs-control-") if "://" in work_dir else work_dir
        return train_shuffled_control(curated_pairs, local, TrainSettings(**settings), seed=seed)

    return train


def pick_device(device: str = "") -> str:
    """`device`, or cuda when a GPU is visible, else cpu."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
