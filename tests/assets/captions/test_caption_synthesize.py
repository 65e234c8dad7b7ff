"""Synthesis logic with a scripted fake backend: regeneration of rejected captions, template
fallback, multi-label and "no finding" targets, and that every generation is accounted for. The real model is tested in
tests/models/captioning."""

import math
import re

from assets.captions.synthesize import synthesize_captions, synthesize_class_captions
from assets.captions.targets import targets_for_labels
from assets.shared.progress import StepProgress
from assets.sources.catalog import ClassInfo, SourceSpec

WORDS = ("apical basal central peripheral diffuse focal bilateral subtle marked mild moderate severe "
         "upper lower medial anterior posterior dense faint round oval smooth lobulated").split()

SOURCES = [
    SourceSpec("xr", "xray", classes=(ClassInfo("normal", "clear lungs"), ClassInfo("pneumonia", "an opacity"))),
    SourceSpec("us", "ultrasound", classes=(ClassInfo("benign", "an oval mass"), ClassInfo("malignant", "a spiculated mass"))),
]


class ScriptedBackend:
    """Round 1: every second request gets a caption that does not name its class; 'malignant'
    always gets meta-text. Otherwise a distinct valid caption."""

    model_id = "scripted"

    def __init__(self):
        self.calls = []
        self.tokens_generated = 0
        self.n = 0

    def generate(self, conversations, *, max_new_tokens, temperature, top_p, seed, on_done=None):
        self.calls.append((len(conversations), seed, conversations))
        out = []
        for i, conv in enumerate(conversations):
            name = re.search(r"^Caption \S+ (?:\S+ )?\S+ of (.+?) \(", conv[-1]["content"]).group(1)
            self.n += 1
            w = [WORDS[(self.n * 3 + k) % len(WORDS)] for k in range(3)]
            if name == "malignant":
                text = "Sure! Here is your caption."
            elif len(self.calls) == 1 and i % 2:
                text = f"An image with {w[0]} {w[1]} findings in the {w[2]} region."
            else:
                text = f"Image showing {name} with {w[0]}, {w[1]} and {w[2]} features, item {self.n}."
            out.append(text)
            self.tokens_generated += len(text.split())
            if on_done is not None:
                on_done(1)
        return out


def test_regenerates_then_falls_back_to_templates_and_accounts_for_everything():
    backend = ScriptedBackend()
    rows, stats = synthesize_class_captions(backend, SOURCES, captions_per_class=4, max_rounds=3, seed=7)

    # One batched call per round, holding every class's requests.
    # Round 2: 2 missing / pass rate 0.5 for three classes, 4 x the cap of 2 for malignant (pass
    # rate 1/6); round 3: malignant only, 4 x 2 again.
    assert [n for n, _, _ in backend.calls] == [16, 3 * 4 + 8, 8]
    assert len({seed for _, seed, _ in backend.calls}) == 3
    first = {re.search(r" of (.+?) \(", c[-1]["content"]).group(1) for c in backend.calls[0][2]}
    assert first == {"normal", "pneumonia", "benign", "malignant"}

    llm = [r for r in rows if r["origin"] == "llm"]
    assert stats["generated"] == len(llm) == sum(n for n, _, _ in backend.calls)
    assert stats["valid_llm"] + stats["rejected"] == stats["generated"]
    assert sum(stats["rejected_by_reason"].values()) == stats["rejected"]
    for label in ("normal", "pneumonia", "benign", "malignant"):
        valid = [r for r in rows if r["label"] == label and r["status"] == "valid"]
        assert len(valid) == 4
    assert stats["template_fallbacks"] == {"xr/normal": 0, "xr/pneumonia": 0, "us/benign": 0, "us/malignant": 4}
    templates = [r for r in rows if r["origin"] == "template"]
    assert {r["label"] for r in templates} == {"malignant"} and all(r["round"] is None for r in templates)
    assert all("malignant" in r["caption"] or "Malignant" in r["caption"] for r in templates)
    assert all(r["reason"] and r["status"] == "rejected" for r in rows if r["status"] != "valid")
    assert {r["reason"] for r in rows if r["label"] == "malignant" and r["origin"] == "llm"} == {"meta-text"}
    assert stats["llm_fraction"] == 12 / 16 and stats["valid"] == 16
    assert stats["rejected_by_reason"]["surplus"] == 3 * 2
    assert stats["tokens_generated"] == backend.tokens_generated
    assert set(rows[0]) == {"source", "modality", "label", "kind", "caption", "status", "reason", "origin", "round",
                            "model_id", "prompt_version", "seed"}
    assert all(r["model_id"] == "scripted" and r["seed"] == 7 for r in rows)


def test_retry_rounds_use_new_prompts_and_oversample_by_pass_rate():
    backend = ScriptedBackend()
    synthesize_class_captions(backend, SOURCES[:1], captions_per_class=4, max_rounds=2)
    first = [c[-1]["content"] for c in backend.calls[0][2]]
    second = [c[-1]["content"] for c in backend.calls[1][2]]
    # 2 of 4 passed per class: pass rate (2 + 1) / (4 + 2) = 0.5, so 2 missing -> 4 requests each.
    assert len(second) == 2 * math.ceil(2 / 0.5) and not set(first) & set(second)


def test_surplus_captions_are_rejected_not_kept():
    backend = ScriptedBackend()
    rows, stats = synthesize_class_captions(backend, SOURCES[:1], captions_per_class=3, max_rounds=2)
    valid = [r for r in rows if r["status"] == "valid"]
    assert len(valid) == 6
    assert stats["rejected_by_reason"].get("surplus", 0) >= 1


def test_labels_from_data_combinations_and_no_finding():
    cxr = SourceSpec("cxr", "xray", classes=(ClassInfo("cardiomegaly", "an enlarged heart"),
                                             ClassInfo("pleural effusion", "fluid at the lung base"),
                                             ClassInfo("pneumothorax", "air in the pleural space")))
    targets = targets_for_labels([(cxr, "cardiomegaly"), (cxr, "cardiomegaly and pleural effusion"),
                                  (cxr, "no finding")])
    backend = ScriptedBackend()
    rows, stats = synthesize_captions(backend, targets, captions_per_class=2, max_rounds=2)
    assert stats["kinds"] == {"class": 1, "combination": 1, "no_finding": 1} and not stats["classes_short"]
    valid = [r for r in rows if r["status"] == "valid"]
    assert {(r["label"], r["kind"]) for r in valid} == {
        ("cardiomegaly", "class"), ("cardiomegaly and pleural effusion", "combination"), ("no finding", "no_finding")}
    for r in valid:
        assert len([v for v in valid if v["label"] == r["label"]]) == 2
    combo = [r["caption"] for r in valid if r["kind"] == "combination"]
    assert all("cardiomegaly" in c and "pleural effusion" in c for c in combo)
    first = [c[-1]["content"] for c in backend.calls[0][2]]
    assert any(q.startswith("Caption an X-ray of a normal study") for q in first)


def test_progress_counts_every_generation_and_says_what_is_complete():
    lines = []
    progress = StepProgress("class captions", unit="generations", log_line=lines.append, every_s=0, bar=False)
    backend = ScriptedBackend()
    _, stats = synthesize_class_captions(backend, SOURCES, captions_per_class=4, max_rounds=3, seed=7,
                                         step_progress=progress)
    progress.close()

    # The total grows by each round's requests; every completion is counted as it comes.
    assert progress.total == progress.done == stats["generated"] == 16 + 20 + 8
    assert lines[0] == "class captions: 0/16 generations (0%); round 1/3, 0/4 classes complete, 0/16 captions valid"
    assert lines[1].startswith("class captions: 1/16 generations (6%)")
    assert any(line.startswith("class captions: 17/36 generations") for line in lines)
    # After the last round three classes are complete; malignant is left to the templates.
    assert progress.status == "round 3/3, 3/4 classes complete, 12/16 captions valid"
    assert lines[-1].startswith("class captions: 44/44 generations (100%)") and lines[-1].endswith(
        "; round 3/3, 3/4 classes complete, 12/16 captions valid, in 0 s")
