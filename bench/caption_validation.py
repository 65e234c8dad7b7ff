"""Caption validation against a hand-labelled set: bench/data/caption_validation.jsonl holds
captions of every synthetic class and of real sources (CheXpert, APTOS diabetic retinopathy
grades; bench/data/caption_validation_sources.json), each with the verdict and reason code a
correct validator gives. The validator sees each caption as synthesis does (validate_for_target,
the worked examples of the prompt with the case's caption index).

Measured: precision on accepted captions (of those accepted, how many are right), recall (of the
right captions, how many are accepted), and per reason code precision and recall, for all cases,
the dev split and the held-out split. Writes bench/results/caption_validation.{json,md}. Usage:
    python -m bench.caption_validation [--errors]   (--errors: list the dev cases it gets wrong)
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from assets.captions.prompts import target_examples
from assets.captions.synthesize import validate_for_target
from assets.captions.targets import label_target
from assets.captions.validate import reason_code
from assets.shared.metadata import md_table
from assets.sources.catalog import ClassInfo, SourceSpec
from assets.sources.synthetic import SYNTHETIC_SOURCES
from bench.output import write_results

DATA = Path(__file__).parent / "data"
CASES = DATA / "caption_validation.jsonl"
SOURCES = DATA / "caption_validation_sources.json"


def load_sources() -> dict[str, SourceSpec]:
    """The synthetic catalog and the real sources the set's cases come from, by name."""
    sources = {s.name: s for s in SYNTHETIC_SOURCES}
    for name, spec in json.loads(SOURCES.read_text()).items():
        classes = tuple(ClassInfo(c["name"], c["description"], tuple(c["synonyms"])) for c in spec["classes"])
        sources[name] = SourceSpec(name=name, modality=spec["modality"], classes=classes)
    return sources


def load_cases() -> list[dict]:
    return [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]


def verdicts(cases: list[dict], sources: dict[str, SourceSpec]) -> list[str | None]:
    """The validator's reason code for every case (None: accepted)."""
    out = []
    for case in cases:
        target = label_target(sources[case["source"]], case["class"])
        reason = validate_for_target(case["caption"], target, case.get("accepted", []),
                                     examples=target_examples(target, case["index"]))
        out.append(reason and reason_code(reason))
    return out


def _ratio(hit: int, total: int) -> float | None:
    return round(hit / total, 4) if total else None


def score(cases: list[dict], got: list[str | None]) -> dict:
    """Precision on accepted captions, recall of correct ones, exact-reason accuracy, and
    precision/recall per reason code (a rejection counts for the code it was given)."""
    want = [c["reason"] if c["verdict"] == "reject" else None for c in cases]
    accepted = [w for w, g in zip(want, got) if g is None]
    correct = sum(w is None for w in want)
    per_reason = {}
    for code in sorted({*filter(None, want), *filter(None, got)}):
        given = sum(g == code for g in got)
        expected = sum(w == code for w in want)
        both = sum(g == code and w == code for w, g in zip(want, got))
        per_reason[code] = {"expected": expected, "given": given,
                            "precision": _ratio(both, given), "recall": _ratio(both, expected)}
    return {"cases": len(cases), "correct_captions": correct, "accepted": len(accepted),
            "precision": _ratio(sum(w is None for w in accepted), len(accepted)),
            "recall": _ratio(sum(w is None and g is None for w, g in zip(want, got)), correct),
            "reason_accuracy": _ratio(sum(w == g for w, g in zip(want, got)), len(cases)),
            "per_reason": per_reason}


def run() -> tuple[dict, list[dict]]:
    """Scores for all cases and each split, and the dev cases the validator gets wrong."""
    cases = load_cases()
    got = verdicts(cases, load_sources())
    results = {"all": score(cases, got)}
    for split in ("dev", "heldout"):
        pairs = [(c, g) for c, g in zip(cases, got) if c["split"] == split]
        results[split] = score([c for c, _ in pairs], [g for _, g in pairs])
    wrong = [{**c, "got": g} for c, g in zip(cases, got) if c["split"] == "dev" and g != (c["reason"] or None)]
    results["composition"] = {"by_source": dict(Counter(c["source"] for c in cases)),
                              "by_verdict": dict(Counter(c["verdict"] for c in cases)),
                              "by_split": dict(Counter(c["split"] for c in cases))}
    return results, wrong


def to_markdown(results: dict) -> str:
    overall = md_table([(split, r["cases"], r["accepted"], r["precision"], r["recall"], r["reason_accuracy"])
                        for split, r in results.items() if split != "composition"],
                       ("split", "cases", "accepted", "precision (accepted)", "recall (correct)", "reason accuracy"))
    per = md_table([(code, r["expected"], r["given"], r["precision"], r["recall"])
                    for code, r in results["all"]["per_reason"].items()],
                   ("reason", "expected", "given", "precision", "recall"))
    return f"{overall}\n\nPer reason, all cases:\n\n{per}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list the dev cases the validator gets wrong")
    args = parser.parse_args()
    results, wrong = run()
    markdown = to_markdown(results)
    write_results("caption_validation", results, markdown)
    print(markdown)
    if args.errors:
        for case in wrong:
            print(f"{case['id']:>4} {case['class']:<12} want {case['reason'] or 'accept'!s:<22} got "
                  f"{case['got'] or 'accept'!s:<22} {case['caption']}")


if __name__ == "__main__":
    main()
