"""Models to compare on the same tasks: each is a `ModelEntry` that loads only when its turn comes (a
MedPairs checkpoint, an untrained twin, or a configured model given as `[label=]model_name[:pretrained]`),
and `evaluate_models` scores them one at a time. A model that cannot be loaded (or scored) is recorded
with its reason and the others are still scored, unless its kind is required."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from models.clip.evaluate import Scored, ZeroShotTask, evaluate_zero_shot_task
from models.clip.retrieval import RetrievalTask, evaluate_retrieval_task

log = logging.getLogger(__name__)


@dataclass
class ModelEntry:
    """A model to score: `load()` returns the loaded bundle and extra facts (e.g. a loss curve)."""

    name: str
    kind: str  # e.g. trained | untrained | shuffled_control | configured
    description: str
    load: Callable[[], tuple[object, dict]] = field(repr=False)


@dataclass(frozen=True)
class BaselineSpec:
    """A configured open_clip model: `[label=]model_name[:pretrained]`. `pretrained` is a checkpoint
    path (local or fsspec URL: open_clip's trainer's, or UniMed-CLIP's `.pt` with its model name, e.g.
    `ViT-B-16-quickgelu`) or an open_clip tag ("openai"); a model name `local-dir:/folder` (open_clip's
    hf-hub folder, e.g. BiomedCLIP's as downloaded) or `hf-hub:org/repo` (from the Hugging Face hub) has no
    pretrained part. How each loads: models/clip/pretrained.py."""

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
        if text.startswith(("hf-hub:", "local-dir:")):
            model, pretrained = text, None
        else:
            model, _, rest = text.partition(":")
            pretrained = rest or None
        if not model:
            raise ValueError(f"baseline {spec!r}: expected [label=]model_name[:pretrained], local-dir:/folder "
                             "or hf-hub:org/repo")
        return cls(label or text, model, pretrained)


def clip_entry(name: str, kind: str, description: str, model: str, checkpoint: str | None = None, *,
               seed: int = 0, device: str = "cpu", text_tower: str | None = None,
               loss_curve: Sequence | None = None) -> ModelEntry:
    """A MedPairs CLIP: `model` with weights from `checkpoint` (written by open_clip_train), or freshly
    initialized from `seed` when there is none; `loss_curve` is handed on with it."""
    def load():
        from models.clip.zeroshot import load_clip

        bundle = load_clip(model, checkpoint, seed=seed, device=device, text_tower=text_tower)
        return bundle, {"loss_curve": list(loss_curve or [])}

    return ModelEntry(name, kind, description, load)


def baseline_label(spec: str) -> str:
    """The name a configured baseline is reported under: its label, or the spec itself when it does not
    parse (the error is then that model's, reported when it is loaded)."""
    try:
        return BaselineSpec.parse(spec).label
    except ValueError:
        return spec


def configured_entry(spec: str, device: str = "cpu", text_tower: str | None = None) -> ModelEntry:
    """The ModelEntry of one configured baseline spec (parse errors surface when it is loaded); `text_tower`
    is the local folder of its Hugging Face text tower, if it has one."""
    def load():
        from models.clip.pretrained import load_pretrained

        b = BaselineSpec.parse(spec)
        return load_pretrained(b.model, b.pretrained, device=device, text_tower=text_tower), {}

    return ModelEntry(baseline_label(spec), "configured", f"open_clip checkpoint `{spec}`", load)


def pick_device(device: str = "") -> str:
    """`device`, or cuda when a GPU is visible, else cpu."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class Evaluation:
    models: dict[str, dict] = field(default_factory=dict)  # name: kind, description, status, error
    zero_shot: dict[str, list[Scored]] = field(default_factory=dict)
    retrieval: dict[str, list[Scored]] = field(default_factory=dict)
    loss_curves: dict[str, list] = field(default_factory=dict)


def evaluate_models(entries: Sequence[ModelEntry], zero_shot: Sequence[ZeroShotTask],
                    retrieval: Sequence[RetrievalTask] = (), *, required: Sequence[str] = (),
                    n_resamples: int = 1000, seed: int = 0) -> Evaluation:
    """Load each model in turn (one in memory at a time) and score it on every task. A model whose kind
    is in `required` raises when it fails; any other is recorded as failed with its reason."""
    out = Evaluation()
    for entry in entries:
        info = {"kind": entry.kind, "description": entry.description, "status": "ok", "error": None}
        out.models[entry.name] = info
        try:
            bundle, extra = entry.load()
            zero = [evaluate_zero_shot_task(bundle, t, n_resamples=n_resamples, seed=seed) for t in zero_shot]
            scored = [evaluate_retrieval_task(bundle, t, n_resamples=n_resamples, seed=seed) for t in retrieval]
        except Exception as e:  # a baseline that cannot be had (or scored) is reported, not fatal
            if entry.kind in required:
                raise
            info.update(status="failed", error=f"{type(e).__name__}: {' '.join(str(e).split())[:400]}")
            log.warning("model %s failed: %s", entry.name, info["error"])
            continue
        out.zero_shot[entry.name], out.retrieval[entry.name] = zero, scored
        if extra.get("loss_curve"):
            out.loss_curves[entry.name] = [list(p) for p in extra["loss_curve"]]
        del bundle
        gc.collect()
    return out
