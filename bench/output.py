"""Where every benchmark writes: bench/results/<stage>.json (read back by bench/suite.py) and
<stage>.md, the stage's own table."""

from __future__ import annotations

import json
import os

RESULTS_DIR = os.path.join(os.path.dirname(__file__), "results")


def write_results(stage: str, result: dict, markdown: str | None = None) -> None:
    """Write `result` to RESULTS_DIR/<stage>.json and, when given, `markdown` to <stage>.md."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, f"{stage}.json"), "w") as f:
        json.dump(result, f, indent=2)
    if markdown is not None:
        with open(os.path.join(RESULTS_DIR, f"{stage}.md"), "w") as f:
            f.write(markdown)
