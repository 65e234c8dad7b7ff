"""What train_entry changes in open_clip_train's training data, through the trainer's `get_data`:

- one caption per load from multi-caption `.txt` files (`caption_pick.CaptionPickingTokenizer`);
- a data order fixed by `--seed`: open_clip_train seeds its shard shuffle from the seed and the epoch, but
  builds the in-shard sample shuffle with webdataset's default generator, seeded from the clock and the
  process id, so two runs of the same settings met their samples in other orders and other batches.
  `install` replaces that stage with `SeededShuffle`, which also seeds each data-loader worker's torch
  generator (the image augmentation) at the start of every epoch.

Both draw from `epoch_seeds.EpochSeeds`, so a run is repeatable sample by sample.
"""

from __future__ import annotations

import webdataset as wds

from models.clip.caption_pick import CaptionPick, CaptionPickingTokenizer
from models.clip.epoch_seeds import EpochSeeds

# The function behind webdataset's `shuffle` stage, the clock-seeded one open_clip_train builds.
_UNSEEDED_SHUFFLE = wds.shuffle(1).f


class SeededShuffle(wds.PipelineStage):
    """webdataset's sample shuffle, with a generator from `EpochSeeds` on every pass."""

    def __init__(self, bufsize: int, initial: int, seeds: EpochSeeds):
        self.bufsize, self.initial, self.seeds = bufsize, initial, seeds

    def run(self, src):
        worker, epoch = self.seeds.key()
        if worker >= 0:  # the worker's own torch generator (image augmentation) starts the epoch seeded too
            import torch

            torch.manual_seed(self.seeds.rng("augment").getrandbits(63))
        return wds.shuffle(self.bufsize, self.initial, rng=self.seeds.rng("shuffle"))(src)


def seed_sample_shuffle(dataset: wds.DataPipeline, seeds: EpochSeeds) -> int:
    """Replace every clock-seeded shuffle stage of `dataset` with a `SeededShuffle` of the same buffer;
    returns how many were replaced."""
    replaced = 0
    for i, stage in enumerate(dataset.pipeline):
        if getattr(stage, "f", None) is _UNSEEDED_SHUFFLE and not stage.kw.get("rng"):
            bufsize, initial = (list(stage.args) + [stage.kw.get("bufsize", 1000), stage.kw.get("initial", 100)])[:2]
            dataset.pipeline[i] = SeededShuffle(bufsize, initial, seeds)
            replaced += 1
    return replaced


def _train_pipeline(loader) -> wds.DataPipeline:
    """The DataPipeline inside open_clip's training WebLoader (a DataPipeline over one DataLoader)."""
    from torch.utils.data import DataLoader

    return next(stage.dataset for stage in loader.pipeline if isinstance(stage, DataLoader))


def install(caption_pick: CaptionPick) -> None:
    """Make open_clip_train's `main` build its training data with a `CaptionPickingTokenizer` and a seeded
    sample shuffle, both drawing from the run's `EpochSeeds`. Installing twice wraps the trainer once."""
    import open_clip_train.main as trainer

    get_data = getattr(trainer.get_data, "__wrapped__", trainer.get_data)

    def get_seeded_data(args, preprocess_fns, epoch=0, tokenizer=None):
        seeds = EpochSeeds(args.seed, args.rank)
        data = get_data(args, preprocess_fns, epoch=epoch,
                        tokenizer=CaptionPickingTokenizer(tokenizer, caption_pick, seeds))
        if "train" in data:
            seeds.epoch = data["train"].shared_epoch
            if args.dataset_type == "webdataset" and not seed_sample_shuffle(_train_pipeline(data["train"].dataloader),
                                                                             seeds):
                raise RuntimeError("open_clip_train's sample shuffle was not found: its data order would not be seeded")
        return data

    get_seeded_data.__wrapped__ = get_data
    trainer.get_data = get_seeded_data
