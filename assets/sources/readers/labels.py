"""Multi-label one-hot columns as CheXpert and NIH ChestX-ray14 write them: 1 / 0 / -1 / blank."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

Policy = Literal["positive", "negative", "uncertain", "quarantine"]
_STATES = {1.0: "positive", 0.0: "negative", -1.0: "uncertain"}


class UncertainLabel(Exception):
    """A row holds an uncertain (or blank) finding and the policy says to quarantine it."""


def cell_state(value: Any) -> str:
    """'positive', 'negative', 'uncertain' or 'blank' for one one-hot cell; ValueError otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "blank"
    if isinstance(value, bool):
        return "positive" if value else "negative"
    text = str(value).strip()
    if not text:
        return "blank"
    try:
        return _STATES[float(text)]
    except (ValueError, KeyError):
        raise ValueError(f"{value!r} is not one of 1, 0, -1 or blank") from None


def onehot_findings(row: Mapping[str, Any], columns: tuple[str, ...], *, uncertain: Policy,
                    blank: Policy) -> tuple[list[str], list[str]]:
    """(positive column names, uncertain column names) of a row under the two policies.
    Raises ValueError for a cell that is not 1/0/-1/blank and UncertainLabel for a cell whose
    policy is 'quarantine'."""
    positives, unsure = [], []
    for col in columns:
        state = cell_state(row.get(col))
        verdict = {"uncertain": uncertain, "blank": blank}.get(state, state)
        if verdict == "quarantine":
            raise UncertainLabel(f"{col}: {state}")
        if verdict == "positive":
            positives.append(col)
        elif verdict == "uncertain":
            unsure.append(col)
    return positives, unsure
