"""The caption cache: a second run generates nothing (and builds no backend), changing one class's
description regenerates that class alone, and everything that decides captions is in the key."""

import dataclasses
import re

import pyarrow.parquet as pq
import pytest

from assets.captions.cache import cached_synthesize, caption_set_key
from assets.captions.targets import targets_for_labels, targets_for_sources
from assets.sources.catalog import ClassInfo, SourceSpec

CT = SourceSpec("ct", "ct", classes=(
    ClassInfo("cyst", "a round fluid-density renal lesion", ("renal cyst",)),
    ClassInfo("stone", "a dense calcification in a kidney", ("kidney stone",)),
    ClassInfo("tumor", "a solid mass arising from a kidney", ("renal mass",)),
))
WORDS = "apical basal central peripheral focal subtle marked mild dense faint round oval smooth lobulated".split()


class CountingBackend:
    """A valid, distinct caption for every request; counts calls and requests per class."""

    model_id = "counting-1"

    def __init__(self):
        self.requests: list[str] = []
        self.n = 0

    def generate(self, conversations, *, max_new_tokens, temperature, top_p, seed):
        out = []
        for conv in conversations:
            name = re.search(r" of (.+?) \(", conv[-1]["content"]).group(1)
            self.requests.append(name)
            self.n += 1
            w = [WORDS[(self.n * 5 + k) % len(WORDS)] for k in range(3)]
            out.append(f"Axial CT showing a {name} with {w[0]}, {w[1]} and {w[2]} features, number {self.n}.")
        return out


class Factory:
    """Builds the backend on demand, counting how often it was asked to."""

    def __init__(self):
        self.built = 0
        self.backend = CountingBackend()

    def __call__(self):
        self.built += 1
        return self.backend


def _run(tmp_path, sources, factory, **kw):
    return cached_synthesize(targets_for_sources(sources), str(tmp_path / "cache"), model_id="counting-1",
                             backend=factory, captions_per_class=3, max_rounds=2, **kw)


def test_second_run_generates_nothing_and_builds_no_backend(tmp_path):
    first = Factory()
    rows1, stats1 = _run(tmp_path, [CT], first)
    assert first.built == 1 and stats1["cache_misses"] == 3 and stats1["cache_hits"] == 0
    assert stats1["generated"] == 9 and stats1["valid"] == 9
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 3

    second = Factory()
    rows2, stats2 = _run(tmp_path, [CT], second)
    assert second.built == 0 and second.backend.requests == []
    assert stats2["cache_hits"] == 3 and stats2["cache_misses"] == 0 and stats2["generated"] == 0
    assert stats2["valid"] == 9 and stats2["template_fallbacks"] == stats1["template_fallbacks"]
    key = lambda r: (r["label"], r["caption"], r["status"])  # noqa: E731
    assert sorted(map(key, rows2)) == sorted(map(key, rows1))
    assert all(len(r["cache_key"]) == 64 for r in rows2)


def test_changing_one_description_regenerates_only_that_class(tmp_path):
    _run(tmp_path, [CT], Factory())
    changed = dataclasses.replace(CT, classes=(
        CT.classes[0], dataclasses.replace(CT.classes[1], description="a very dense stone in the renal pelvis"),
        CT.classes[2]))
    factory = Factory()
    rows, stats = _run(tmp_path, [changed], factory)
    assert stats["cache_hits"] == 2 and stats["cache_misses"] == 1
    assert set(factory.backend.requests) == {"stone"} and stats["generated"] == 3
    assert {r["label"] for r in rows} == {"cyst", "stone", "tumor"} and stats["valid"] == 9


def test_a_new_synonym_regenerates_the_classes_that_validate_against_it(tmp_path):
    _run(tmp_path, [CT], Factory())
    changed = dataclasses.replace(CT, classes=(
        dataclasses.replace(CT.classes[0], synonyms=("renal cyst", "simple cyst")), *CT.classes[1:]))
    _, stats = _run(tmp_path, [changed], Factory())
    assert stats["cache_misses"] == 3  # siblings' terms decide what their captions may say


def test_key_covers_model_prompt_n_seed_and_rounds():
    target = targets_for_sources([CT])[0]
    base = dict(model_id="m", captions_per_class=10, seed=0, max_rounds=3)
    key = caption_set_key(target, **base)
    assert key == caption_set_key(target, **base)
    for change in ({"model_id": "other"}, {"captions_per_class": 5}, {"seed": 1}, {"max_rounds": 2},
                   {"temperature": 0.2}):
        assert caption_set_key(target, **{**base, **change}) != key, change
    assert caption_set_key(target, **base, code="another code version") != key
    other_source = dataclasses.replace(CT, name="ct2")
    assert caption_set_key(targets_for_sources([other_source])[0], **base) != key


def test_combination_and_no_finding_targets_are_cached_too(tmp_path):
    targets = targets_for_labels([(CT, "cyst and stone"), (CT, "no finding")])
    factory = Factory()
    rows, stats = cached_synthesize(targets, str(tmp_path), model_id="counting-1", backend=factory,
                                    captions_per_class=2, max_rounds=1)
    assert stats["cache_misses"] == 2 and {r["kind"] for r in rows} == {"combination", "no_finding"}
    files = sorted(tmp_path.glob("*.parquet"))
    assert len(files) == 2 and sum(pq.read_table(f).num_rows for f in files) == len(rows)
    _, again = cached_synthesize(targets, str(tmp_path), model_id="counting-1", backend=factory,
                                 captions_per_class=2, max_rounds=1)
    assert again["cache_hits"] == 2 and factory.built == 1


def test_a_backend_of_another_model_is_refused(tmp_path):
    factory = Factory()
    with pytest.raises(ValueError, match="cache keys would be wrong"):
        cached_synthesize(targets_for_sources([CT]), str(tmp_path), model_id="something-else", backend=factory)
    assert not list(tmp_path.glob("*.parquet"))


class BatchBackend:
    """Like a real batched LLM, what a request gets depends on the whole batch (its size, the seed,
    the request's place in it); a third of the answers for classes other than stone fail validation,
    so stone is done after round 1 and the others are retried."""

    model_id = "counting-1"

    def __init__(self, fail_on_call: int | None = None):
        self.calls = 0
        self.fail_on_call = fail_on_call

    def generate(self, conversations, *, max_new_tokens, temperature, top_p, seed):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt  # the process dies in this round
        out = []
        for i, conv in enumerate(conversations):
            name = re.search(r" of (.+?) \(", conv[-1]["content"]).group(1)
            h = hash((seed, len(conversations), i)) & 0xFFFF
            w = [WORDS[(h >> (4 * k)) % len(WORDS)] for k in range(3)]
            out.append(f"Axial CT with {w[0]}, {w[1]} and {w[2]} features, number {h}." if h % 3 == 0 and name != "stone" else
                       f"Axial CT showing a {name} with {w[0]}, {w[1]} and {w[2]} features, number {h}.")
        return out


def test_a_run_killed_between_rounds_goes_on_to_the_same_captions(tmp_path):
    targets = targets_for_sources([CT])
    run = dict(model_id="counting-1", captions_per_class=4, max_rounds=3)
    clean, clean_stats = cached_synthesize(targets, str(tmp_path / "clean"), backend=BatchBackend(), **run)
    assert clean_stats["rounds"][1:]  # the retries happened

    with pytest.raises(KeyboardInterrupt):
        cached_synthesize(targets, str(tmp_path / "killed"), backend=BatchBackend(fail_on_call=2), **run)
    kept = sorted(p.name for p in (tmp_path / "killed").iterdir())
    assert [n for n in kept if n.startswith("_progress-")]  # the checkpoint of round 1
    done_after_round_1 = {r["label"] for r in clean if r["round"] == 1} - {r["label"] for r in clean if r["round"] == 2}
    assert done_after_round_1 == {"stone"}
    assert len([n for n in kept if n.endswith(".parquet")]) == 1  # its set, written when it was done

    resumed, stats = cached_synthesize(targets, str(tmp_path / "killed"), backend=BatchBackend(), **run)
    strip = lambda rows: sorted((r["label"], r["caption"], r["status"], r["round"], r["cache_key"]) for r in rows)  # noqa: E731
    assert strip(resumed) == strip(clean)
    assert stats["resumed_after_round"] == 1 and stats["reused_generations"] == clean_stats["rounds"][0]["requested"]
    assert not [p for p in (tmp_path / "killed").iterdir() if p.name.startswith("_progress-")]

    # Without the checkpoint, the unfinished labels would have been drawn in other batches, to other
    # captions: what a fresh run over them alone writes.
    unfinished = [t for t in targets if t.label not in done_after_round_1]
    alone, _ = cached_synthesize(unfinished, str(tmp_path / "alone"), backend=BatchBackend(), **run)
    assert strip(alone) != strip([r for r in clean if r["label"] not in done_after_round_1])


def test_key_covers_the_backend_and_structured_output():
    """Captions written by the CPU backend are not reused for a vLLM run of the same model, nor
    JSON-constrained ones for free text."""
    from models.captioning.backends import backend_generation

    target = targets_for_sources([CT])[0]
    base = dict(model_id="SmolLM2-135M-Instruct", captions_per_class=10, seed=0, max_rounds=3)
    keys = {name: caption_set_key(target, **base, generation=backend_generation(*setup)) for name, setup in {
        "transformers": ("transformers", {}),
        "vllm": ("vllm", {}),
        "vllm free text": ("vllm", {"structured_output": False}),
        "http": ("http", {}),
        "http json": ("http", {"structured_output": True}),
    }.items()}
    assert len(set(keys.values())) == len(keys), keys
    assert backend_generation("vllm", {}) == {"backend": "vllm", "structured_output": True}  # its default
    assert backend_generation("vllm", {"structured_output": None}) == backend_generation("vllm", {})
