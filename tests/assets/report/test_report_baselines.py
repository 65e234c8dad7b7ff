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
