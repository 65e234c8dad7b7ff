"""The report's evaluation sets exported in CLIP_benchmark's wds layout: clip_benchmark 1.6.2 itself (its wds
loader, its open_clip model loader, its zero-shot classifier and retrieval evaluation, in process) scores the
trained checkpoint on an exported set exactly as the report does: classification with the report's per-class
prompts or with shared templates, and retrieval."""

import json

import numpy as np
import pytest
import torch
from clip_benchmark.datasets.builder import build_dataset
from clip_benchmark.metrics import zeroshot_classification, zeroshot_retrieval
from clip_benchmark.models import load_clip
from report_helpers import CATALOG_YAML
from sklearn.metrics import balanced_accuracy_score

from assets.report.clip_benchmark_export import (
    PROMPTS_FILE,
    TEMPLATES_FILE,
    export_suite,
    shared_templates,
)
from assets.report.suite import build_tasks, load_suite
from assets.shared import layout
from assets.sources.catalog_yaml import load_catalog
from models.clip.entries import clip_entry, evaluate_models
from models.clip.model_configs import register_model_configs

# Templates alone (no synonyms, no descriptions): every class's prompts are the same templates filled.
TEMPLATES_SUITE = """
split: test
prompts: {synonyms: false, descriptions: false}
templates:
  default: ["this is an image of {}.", "a {{braced}} image showing {}."]
"""


def test_shared_templates_are_found_only_when_they_give_every_prompt():
    names = ["left lesion", "right lesion"]
    assert shared_templates(names, [["a left lesion.", "{x} left lesion"], ["a right lesion.", "{x} right lesion"]]) \
        == ["a {c}.", "{{x}} {c}"]
    assert shared_templates(names, [["a left lesion.", "a left opacity."], ["a right lesion."]]) is None


def _clip_benchmark_metrics(root, source: str, run: dict, custom_template_file: str | None) -> dict:
    """clip_benchmark's zero-shot top-1 and mean per-class recall of the run's checkpoint on an exported set:
    its loaders, classifier and logits, and its metrics' formulas (its `evaluate` itself stops at
    `float()` of a one-element array, which NumPy 2 refuses)."""
    register_model_configs()  # clip_benchmark's loader calls open_clip with our model name
    model, transform, tokenizer = load_clip("open_clip", run["model"], run["checkpoint"], cache_dir=None,
                                            device="cpu")
    model.eval()
    dataset = build_dataset(f"wds/{source}", root=str(root / source), transform=transform, split="test",
                            custom_template_file=custom_template_file)
    # as clip_benchmark's CLI loads a wds dataset
    loader = torch.utils.data.DataLoader(dataset.batched(64), batch_size=None, shuffle=False, num_workers=0)
    classifier = zeroshot_classification.zero_shot_classifier(model, tokenizer, dataset.classes, dataset.templates,
                                                              "cpu", amp=False)
    logits, target = zeroshot_classification.run_classification(model, classifier, loader, "cpu", amp=False)
    pred = logits.argmax(axis=1)
    return {"acc1": (pred == target).sum().item() / len(target),
            "mean_per_class_recall": balanced_accuracy_score(target, pred), "pred": pred.numpy(),
            "target": target.numpy()}


@pytest.mark.parametrize("suite_text", [None, TEMPLATES_SUITE], ids=["per_class_prompts", "templates"])
def test_clip_benchmark_scores_an_exported_set_as_the_report_does(trained_root, tmp_path, suite_text):
    root, run = trained_root
    suite = ""
    if suite_text:
        suite = str(tmp_path / "suite.yaml")
        (tmp_path / "suite.yaml").write_text(suite_text)
    pairs, catalog, out = str(root / layout.CURATED_PAIRS), str(root / "catalog.yaml"), tmp_path / "wds"
    exported = export_suite(pairs, catalog, str(out), suite=suite, sources=["toy_xray", "toy_ct"])
    # toy_xray's classes have synonyms and a description: only per-class prompts say them
    assert {r["source"]: r["templates"] for r in exported} == {"toy_ct": True, "toy_xray": bool(suite_text)}

    tasks = build_tasks(load_suite(suite), load_catalog(catalog), pairs)
    report = evaluate_models([clip_entry("trained", "trained", "", run["model"], run["checkpoint"])], tasks.zero_shot,
                             required=("trained",), n_resamples=10)
    for scored, task in zip(report.zero_shot["trained"], tasks.zero_shot):
        row = scored.row
        folder = out / task.source
        assert (folder / "classnames.txt").read_text().splitlines() == task.class_names
        assert json.loads((folder / PROMPTS_FILE).read_text()) == {task.source: dict(zip(task.class_names,
                                                                                         task.prompts))}
        assert (folder / "test/nshards.txt").read_text().strip() == "1"
        assert (folder / TEMPLATES_FILE).exists() == (bool(suite_text) or task.source == "toy_ct")
        # with templates, clip_benchmark needs nothing but the folder
        custom = None if suite_text else str(folder / PROMPTS_FILE)
        theirs = _clip_benchmark_metrics(out, task.source, run, custom)
        assert theirs["acc1"] == row["top1"]
        assert theirs["mean_per_class_recall"] == pytest.approx(row["balanced_accuracy"], rel=1e-12)
        # the same images, in the same order, with the same labels, each predicted as the report predicts it
        np.testing.assert_array_equal(theirs["target"], task.labels)
        np.testing.assert_array_equal(theirs["pred"], scored.predictions)


def test_clip_benchmark_scores_an_exported_retrieval_set_as_the_report_does(trained_root, tmp_path):
    root, run = trained_root
    pairs, catalog, out = str(root / layout.CURATED_PAIRS), str(root / "catalog.yaml"), tmp_path / "wds"
    [exported] = export_suite(pairs, catalog, str(out), sources=["toy_reports"])
    assert exported["task"] == "zeroshot_retrieval" and (out / "toy_reports/dataset_type.txt").read_text() == "retrieval\n"
    [task] = build_tasks(load_suite(), load_catalog(catalog), pairs).retrieval
    [scored] = evaluate_models([clip_entry("trained", "trained", "", run["model"], run["checkpoint"])], [],
                               [task], required=("trained",), n_resamples=10).retrieval["trained"]

    register_model_configs()
    model, transform, tokenizer = load_clip("open_clip", run["model"], run["checkpoint"], cache_dir=None,
                                            device="cpu")
    dataset = build_dataset("wds/toy_reports", root=str(out / "toy_reports"), transform=transform, split="test",
                            task="zeroshot_retrieval")
    loader = torch.utils.data.DataLoader(dataset.batched(64), batch_size=None, shuffle=False, num_workers=0)
    # k up to the number of images (its top-k needs k of them)
    ks = [k for k in (1, 5, 10) if k <= len(task.images)]
    theirs = zeroshot_retrieval.evaluate(model.eval(), loader, tokenizer, "cpu", amp=False, recall_k_list=ks)
    for k in ks:  # clip_benchmark names a direction by what is retrieved
        assert theirs[f"text_retrieval_recall@{k}"] == pytest.approx(scored.row[f"image_to_text_R@{k}"], abs=1e-7)
        assert theirs[f"image_retrieval_recall@{k}"] == pytest.approx(scored.row[f"text_to_image_R@{k}"], abs=1e-7)
    assert 0 < scored.row["image_to_text_R@1"] < 1  # neither nothing nor everything found


def test_exporting_a_source_with_no_task_names_it(pairs_root, tmp_path):
    (tmp_path / "catalog.yaml").write_text(CATALOG_YAML)
    with pytest.raises(ValueError, match=r"no task for \['toy_mri'\]"):
        export_suite(str(pairs_root / layout.CURATED_PAIRS), str(tmp_path / "catalog.yaml"), str(tmp_path / "out"),
                     sources=["toy_xray", "toy_mri"])
