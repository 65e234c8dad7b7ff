"""The evaluation suite: which sources and split are benchmarks (suite.yaml), and the tasks built from them
with the source catalog's classes: zero-shot classification tasks with a prompt ensemble per class (filled
templates, or a source's own prompts per class as written) and a headline metric, and retrieval tasks on
image-text sources."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import fsspec
import numpy as np
import yaml

from assets.sources.catalog import ClassInfo, SourceSpec
from models.clip.evaluate import CLASSIFICATION_METRICS, ZeroShotTask, read_split
from models.clip.retrieval import RetrievalTask

log = logging.getLogger(__name__)

DEFAULT_SUITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "suite.yaml")


@dataclass(frozen=True)
class Suite:
    split: str = "test"
    sources: tuple[str, ...] = ()  # empty: every source with samples in the split
    synonyms: bool = True
    descriptions: bool = True
    paper_benchmark: str | None = None
    templates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source_templates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Per source, per class name: the prompts as written (no template filled), e.g. UniMed-CLIP's ensembles.
    class_prompts: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    # Per source, its headline metric (one of CLASSIFICATION_METRICS); top1 for a source not named.
    metrics: Mapping[str, str] = field(default_factory=dict)

    def metric_for(self, source: str) -> str:
        return self.metrics.get(source, "top1")

    def templates_for(self, source: str, modality: str) -> tuple[str, ...]:
        """The source's own templates, else its modality's followed by the defaults (no repeats)."""
        if source in self.source_templates:
            return self.source_templates[source]
        found = (*self.templates.get(modality, ()), *self.templates.get("default", ()))
        return tuple(dict.fromkeys(found)) or ("{}",)

    def to_dict(self) -> dict:
        return {"split": self.split, "sources": list(self.sources), "synonyms": self.synonyms,
                "descriptions": self.descriptions, "paper_benchmark": self.paper_benchmark,
                "templates": {k: list(v) for k, v in self.templates.items()},
                "source_templates": {k: list(v) for k, v in self.source_templates.items()},
                "class_prompts": {k: {c: list(p) for c, p in v.items()} for k, v in self.class_prompts.items()},
                "metrics": dict(self.metrics)}


def load_suite(path: str = "") -> Suite:
    """The suite of a YAML file (local or fsspec URL); the built-in suite.yaml when `path` is empty."""
    with fsspec.open(path or DEFAULT_SUITE, "rt") as f:
        raw = yaml.safe_load(f) or {}
    unknown = set(raw) - {"split", "sources", "prompts", "paper_benchmark", "templates", "source_templates",
                          "class_prompts", "metrics"}
    if unknown:
        raise ValueError(f"unknown keys in suite {path or DEFAULT_SUITE}: {sorted(unknown)}")
    metrics = {str(k): v for k, v in (raw.get("metrics") or {}).items()}
    bad_metrics = {k: v for k, v in metrics.items() if v not in CLASSIFICATION_METRICS}
    if bad_metrics:
        raise ValueError(f"suite metrics must be one of {list(CLASSIFICATION_METRICS)}: {bad_metrics}")
    # class names as the catalog keeps them: stripped
    class_prompts = {str(source): {str(c).strip(): p for c, p in (classes or {}).items()}
                     for source, classes in (raw.get("class_prompts") or {}).items()}
    for source, classes in class_prompts.items():
        bad = [c for c, p in classes.items() if not p or not all(isinstance(t, str) and t.strip() for t in p)]
        if bad or not classes:
            raise ValueError(f"class_prompts of {source!r} must map each class to a non-empty list of prompts: {bad}")
    prompts = raw.get("prompts") or {}
    for name, templates in {**(raw.get("templates") or {}), **(raw.get("source_templates") or {})}.items():
        bad = [t for t in templates or [] if "{}" not in t]
        if bad or not templates:
            raise ValueError(f"templates of {name!r} must be a non-empty list of strings holding '{{}}': {bad}")
    return Suite(
        split=str(raw.get("split", "test")),
        sources=tuple(raw.get("sources") or ()),
        synonyms=bool(prompts.get("synonyms", True)),
        descriptions=bool(prompts.get("descriptions", True)),
        paper_benchmark=raw.get("paper_benchmark"),
        templates={k: tuple(v) for k, v in (raw.get("templates") or {}).items()},
        source_templates={k: tuple(v) for k, v in (raw.get("source_templates") or {}).items()},
        class_prompts={k: {c: tuple(p) for c, p in v.items()} for k, v in class_prompts.items()},
        metrics=metrics,
    )


def prompts_for_class(cls: ClassInfo, templates: Sequence[str], *, synonyms: bool = True,
                      descriptions: bool = True) -> list[str]:
    """The prompt ensemble of one class: every template filled with its name (and synonyms), then its
    description as written."""
    terms = cls.terms if synonyms else (cls.name,)
    prompts = [t.replace("{}", term) for term in terms for t in templates]
    if descriptions and cls.description:
        prompts.append(cls.description)
    return list(dict.fromkeys(prompts))


@dataclass
class Tasks:
    zero_shot: list[ZeroShotTask]
    retrieval: list[RetrievalTask]
    notes: list[str]  # why a listed or present source yields no task


def build_tasks(suite: Suite, sources: Sequence[SourceSpec], curated_pairs: str) -> Tasks:
    """The suite's tasks on `curated_pairs`. A catalog source's classes (in catalog order) are its
    candidates; a source the catalog lists without classes offers the labels present in the split."""
    specs = {s.name: s for s in sources}
    data = read_split(curated_pairs, suite.split)
    names = list(suite.sources) or sorted(data)
    tasks = Tasks([], [], [])
    for name in names:
        if name not in data:
            tasks.notes.append(f"{name}: no samples in the {suite.split!r} split")
            continue
        d, spec = data[name], specs.get(name)
        kind = spec.kind if spec else (d["kind"] or "classification")
        for task_name, part in by_modality(name, d):
            if kind == "image_text":
                _add_retrieval(tasks, task_name, part)
            else:
                _add_zero_shot(tasks, suite, name, part, spec, task_name=task_name)
    return tasks


def by_modality(name: str, d: dict) -> list[tuple[str, dict]]:
    """(task name, samples) of one source's split: the source as one task, or where its samples mix
    modalities (RadImageNet) one task per modality, `name/modality`, each scored against every class
    of the source, as UniMed scores RadImageNet and reports it by modality."""
    modalities = sorted(set(d["modalities"]))
    if len(modalities) < 2:
        return [(name, d)]
    per_sample = ("sample_ids", "modalities", "labels", "images", "captions")
    return [(f"{name}/{m}", {**d, "modality": m, **{k: [v for v, x in zip(d[k], d["modalities"], strict=True) if x == m]
                                                      for k in per_sample}})
            for m in modalities]


def _add_zero_shot(tasks: Tasks, suite: Suite, name: str, d: dict, spec: SourceSpec | None, *,
                   task_name: str = "") -> None:
    shown = task_name or name
    classes = list(spec.classes) if spec and spec.classes else \
        [ClassInfo(label) for label in sorted({x for x in d["labels"] if x is not None})]
    if len(classes) < 2:
        tasks.notes.append(f"{shown}: fewer than two classes, nothing to classify")
        return
    index = {c.name: i for i, c in enumerate(classes)}
    keep = [i for i, label in enumerate(d["labels"]) if label in index]
    if not keep:
        tasks.notes.append(f"{shown}: no sample's label is one of its classes")
        return
    if name in suite.class_prompts:
        own = suite.class_prompts[name]
        missing = [c.name for c in classes if c.name not in own]
        if missing:
            tasks.notes.append(f"{shown}: the suite's class_prompts name no prompts for class(es) {missing}")
            return
        prompts = [list(own[c.name]) for c in classes]
    else:
        templates = suite.templates_for(name, d["modality"])
        prompts = [prompts_for_class(c, templates, synonyms=suite.synonyms, descriptions=suite.descriptions)
                   for c in classes]
    tasks.zero_shot.append(ZeroShotTask(
        source=shown, modality=d["modality"], class_names=[c.name for c in classes], prompts=prompts,
        headline_metric=suite.metric_for(name),
        images=[d["images"][i] for i in keep],
        labels=np.array([index[d["labels"][i]] for i in keep], dtype=np.int64),
        sample_ids=[d["sample_ids"][i] for i in keep],
        skipped=len(d["labels"]) - len(keep),
    ))


def _add_retrieval(tasks: Tasks, name: str, d: dict) -> None:
    keep = [i for i, caps in enumerate(d["captions"]) if any(c and c.strip() for c in caps)]
    if not keep:
        tasks.notes.append(f"{name}: image-text source without captions in the split")
        return
    tasks.retrieval.append(RetrievalTask(
        source=name, modality=d["modality"], images=[d["images"][i] for i in keep],
        captions=[[c for c in d["captions"][i] if c and c.strip()] for i in keep],
        sample_ids=[d["sample_ids"][i] for i in keep],
    ))
