"""Print where the benchmark report is and its summary: `python -m assets.report.summary data/report`."""

import json
import os
import sys

from assets.report.render.markdown import fmt_ci, summary_rows
from assets.shared.metadata import md_table


def main(report_dir: str) -> None:
    with open(os.path.join(report_dir, "report.json")) as f:
        report = json.load(f)
    if report.get("synthetic"):
        print("The data is synthetic (MedPairs' embedded default): these numbers say nothing clinical.\n")
    print(md_table(summary_rows(report), ("model", "mean zero-shot top-1 [95% CI]", "balanced acc.", "AUC",
                                          "chance", "top-1 / chance")))
    for model, s in report.get("retrieval_summary", {}).items():
        print(f"{model}: retrieval image→text R@1 {fmt_ci(s['mean_image_to_text_R@1'], s['mean_image_to_text_R@1_ci'])}")
    for name, info in report.get("models", {}).items():
        if info["status"] != "ok":
            print(f"{name}: failed: {info['error']}")
    for name, check in report.get("checks", {}).items():
        print(f"check {name}: {({True: 'pass', False: 'FAIL', None: 'n/a'})[check['passed']]} ({check['detail']})")
    print()
    for name in ("report.html", "report.png", "report.md", "report.json"):
        path = os.path.join(report_dir, name)
        if os.path.exists(path):
            print(f"{name:12} {os.path.abspath(path)}")
        elif name == "report.png":
            print(f"{name:12} not written: no Chromium (as root, `make chromium` installs Debian's; or set "
                  "MEDPAIRS_CHROMIUM to a Chromium binary and run again)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/report")
