"""Print where the benchmark report is and its summary: `python -m assets.report.summary data/report`."""

import json
import os
import sys

from assets.metadata import md_table


def main(report_dir: str) -> None:
    with open(os.path.join(report_dir, "report.json")) as f:
        report = json.load(f)
    rows = [(m, s["mean_top1"], s["mean_chance"], f"{s['top1_over_chance']:.2f}x")
            for m, s in report["summary"].items()]
    print(md_table(rows, ("model", "mean zero-shot top-1", "chance", "top-1 / chance")))
    print(f"\nReport: {os.path.abspath(os.path.join(report_dir, 'report.md'))}")
    print(f"JSON:   {os.path.abspath(os.path.join(report_dir, 'report.json'))}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/report")
