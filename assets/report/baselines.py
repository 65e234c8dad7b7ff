"""Which models a benchmark report compares: the trained CLIP, its untrained twin, the shuffled-caption
control when one was trained (the shuffled_control asset), and any open_clip checkpoint the user
configures. How each loads and is scored lives in models/clip/entries.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from models.clip.entries import ModelEntry, baseline_label, clip_entry, configured_entry

CONTROL_NAME = "shuffled_control"


def standard_entries(run: dict, *, baseline_seed: int = 0, device: str = "cpu", loss_curve: Sequence | None = None,
                     control: dict | None = None, control_loss_curve: Sequence | None = None,
                     baselines: Sequence[str] = (), text_towers: Mapping[str, str] | None = None) -> list[ModelEntry]:
    """The report's models in order: trained (the run pointer's checkpoint), untrained (same config,
    seeded init), the shuffled control when `control` (its run pointer) is given, then each configured
    baseline, with the local folder of its Hugging Face text tower from `text_towers` (by its label)."""
    model = run["model"]
    # A config with a Hugging Face text tower loads it from the folder the run trained with.
    text_tower = (run.get("settings") or {}).get("text_tower")
    entries = [
        clip_entry("trained", "trained", f"`{model}` trained by the clip_model asset", model, run["checkpoint"],
                   device=device, text_tower=text_tower, loss_curve=loss_curve),
        clip_entry("untrained", "untrained", f"`{model}` as initialized before training (seed {baseline_seed})",
                   model, None, seed=baseline_seed, device=device, text_tower=text_tower),
    ]
    if control is not None:
        entries.append(clip_entry(
            CONTROL_NAME, "shuffled_control", f"`{control['model']}` trained like the trained model on captions "
            "shuffled against images (should score at chance)", control["model"], control["checkpoint"],
            device=device, text_tower=(control.get("settings") or {}).get("text_tower"),
            loss_curve=control_loss_curve))
    towers = dict(text_towers or {})
    for spec in baselines:
        label = baseline_label(spec)
        entries.append(configured_entry(spec, device, text_tower=towers.pop(label, None)))
    if towers:
        raise ValueError(f"text_towers names no configured baseline: {sorted(towers)} "
                         f"(baselines: {[baseline_label(s) for s in baselines]})")
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"model names repeat (label configured baselines apart): {names}")
    return entries


def control_notes(run: dict, control: dict | None) -> list[str]:
    """What the report says of the shuffled control: that none was trained, or that it was trained with
    other settings than the trained model (clip_model retrained since)."""
    if control is None:
        return [f"{CONTROL_NAME}: not trained (materialize the shuffled_control asset, e.g. with "
                "shuffled_control_job, to score it)"]
    if control.get("settings") != run.get("settings"):
        return [f"{CONTROL_NAME}: trained with other settings than the trained model (clip_model was retrained "
                "since): materialize shuffled_control again"]
    return []
