"""Out-of-process training entry: `python -m models.clip.train_entry <open_clip_train argv>`.

Registers MedPairs' model configs, runs `open_clip_train.main.main(argv)`, and, when launched by Dagster
Pipes (`PipesSubprocessClient`), reports the checkpoint path, loss curve and throughput back as
materialization metadata. Run by hand it just trains.
"""

from __future__ import annotations

import sys


def _train(argv: list[str]) -> None:
    from open_clip_train.main import main as open_clip_main

    from models.clip.model_configs import register_model_configs

    register_model_configs()
    # open_clip's main returns -1 (and exits 0) when it refuses to run, e.g. the run folder exists.
    if open_clip_main(argv) not in (None, 0):
        raise SystemExit("open_clip_train refused to run; see its output above")


def _run_location(argv: list[str]) -> tuple[str, str]:
    from open_clip_train.params import parse_args

    args = parse_args(argv)
    return args.logs, args.name


def _metadata(summary: dict) -> dict:
    curve = summary["loss_curve"]
    # Keep the metadata small: at most ~50 points of the curve, always the last one.
    step = max(1, len(curve) // 50)
    thinned = curve[::step] + ([curve[-1]] if curve and (len(curve) - 1) % step else [])
    return {
        "checkpoint": {"raw_value": summary["checkpoint"], "type": "path"},
        "epochs_completed": summary["epochs_completed"],
        "samples_seen": summary["samples_seen"],
        "first_loss": summary["first_loss"],
        "final_loss": summary["final_loss"],
        "samples_per_second": summary.get("samples_per_second"),
        "train_loop_seconds": summary.get("train_loop_seconds"),
        "loss_curve": {"raw_value": [{"samples_seen": n, "loss": v} for n, v in thinned], "type": "json"},
        "run_dir": {"raw_value": summary["run_dir"], "type": "path"},
    }


def main(argv: list[str]) -> None:
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    if not PipesEnvVarParamsLoader().is_dagster_pipes_process():
        _train(argv)
        return
    from models.clip.train import summarize_run

    with open_dagster_pipes() as pipes:
        pipes.log.info(f"open_clip_train {' '.join(argv)}")
        _train(argv)
        summary = summarize_run(*_run_location(argv))
        if summary["checkpoint"] is None:
            raise RuntimeError(f"training wrote no checkpoint under {summary['run_dir']}")
        pipes.report_asset_materialization(metadata=_metadata(summary))


if __name__ == "__main__":
    main(sys.argv[1:])
