"""Which models the report compares: trained, untrained, the shuffled control only when one was trained (and
a note otherwise), then the configured baselines, under names that do not repeat."""

import pytest

from assets.report.baselines import control_notes, standard_entries

RUN = {"model": "medpairs-tiny", "checkpoint": "/c.pt", "settings": {"seed": 0}}


def test_entries_in_order_and_repeated_names_rejected():
    assert [e.name for e in standard_entries(RUN, baselines=["b=RN50"])] == ["trained", "untrained", "b"]
    with pytest.raises(ValueError, match="repeat"):
        standard_entries(RUN, baselines=["trained=RN50"])


def test_the_control_is_compared_only_when_it_was_trained():
    control = {"model": "medpairs-tiny", "checkpoint": "/control.pt", "settings": {"seed": 0}}
    entries = standard_entries(RUN, control=control, baselines=["b=RN50"])
    assert [(e.name, e.kind) for e in entries] == [("trained", "trained"), ("untrained", "untrained"),
                                                   ("shuffled_control", "shuffled_control"), ("b", "configured")]
    assert control_notes(RUN, control) == []
    [absent] = control_notes(RUN, None)
    assert "not trained" in absent and "shuffled_control" in absent
    [stale] = control_notes(RUN, {**control, "settings": {"seed": 1}})
    assert "other settings" in stale


def test_text_towers_go_to_their_baselines_and_an_unknown_label_is_rejected(tmp_path):
    towers = {"biomedclip": str(tmp_path / "absent-bert")}
    [*_, entry] = standard_entries(RUN, baselines=[f"biomedclip=local-dir:{tmp_path}"], text_towers=towers)
    (tmp_path / "open_clip_config.json").write_text('{"model_cfg": {"text_cfg": {"hf_model_name": "org/bert"}}}')
    (tmp_path / "open_clip_model.safetensors").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="absent-bert: no config.json"):
        entry.load()  # the folder given for this baseline is the one it reads
    with pytest.raises(ValueError, match="names no configured baseline: \\['unimed'\\]"):
        standard_entries(RUN, baselines=["b=RN50"], text_towers={"unimed": "/m/bert"})
