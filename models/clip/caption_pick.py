"""One caption per load from a sample holding several (UniMed's multi-caption augmentation).

The export writes every candidate caption of a sample into its `.txt`, one per line. open_clip's WebDataset
pipeline hands that text to the tokenizer (`tokenizer(text)[0]`) each time it loads the sample, so the
tokenizer is the seam: `CaptionPickingTokenizer` picks one line there, then tokenizes it.

- `"random"`: a line drawn at random on every load, so each epoch sees other captions. The generator is
  seeded per process from torch's seed, which open_clip sets from `--seed` and the rank, and which each
  data-loader worker gets as base seed plus worker id, so workers and ranks draw independent streams.
  (Which sample meets which draw also depends on open_clip's in-shard sample shuffle, which webdataset
  seeds from the clock: draws are not repeatable sample by sample.)
- `"first"`: always the first line, deterministic (with `captions="one"` exports, the exported pick).

`install(mode)` makes `open_clip_train.main` hand the wrapped tokenizer to its datasets (`get_data`),
leaving the tokenizer it uses for zero-shot evaluation untouched.
"""

from __future__ import annotations

import os
import random
from typing import Literal

CaptionPick = Literal["random", "first"]
PICKS: tuple[str, ...] = ("random", "first")


class CaptionPickingTokenizer:
    """An open_clip tokenizer that tokenizes one caption of each newline-separated text."""

    def __init__(self, tokenizer, mode: CaptionPick = "random"):
        if mode not in PICKS:
            raise ValueError(f"caption pick must be one of {PICKS}, not {mode!r}")
        self.tokenizer = tokenizer
        self.mode = mode
        self._rng: random.Random | None = None
        self._pid: int | None = None

    def pick(self, text: str) -> str:
        captions = [line for line in text.split("\n") if line.strip()]
        if len(captions) <= 1:
            return captions[0] if captions else text
        if self.mode == "first":
            return captions[0]
        return self._random().choice(captions)

    def __call__(self, texts, context_length: int | None = None):
        picked = [self.pick(t) for t in ([texts] if isinstance(texts, str) else texts)]
        if context_length is None:
            return self.tokenizer(picked)
        return self.tokenizer(picked, context_length=context_length)

    def __getattr__(self, name: str):
        if name == "tokenizer":  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.tokenizer, name)

    def _random(self) -> random.Random:
        # A data-loader worker is a new process: seed there, from the seed torch gave that worker.
        if self._pid != os.getpid():
            import torch

            self._rng, self._pid = random.Random(torch.initial_seed()), os.getpid()
        return self._rng


def install(mode: CaptionPick) -> None:
    """Make open_clip_train's `main` build its datasets with a `CaptionPickingTokenizer`."""
    import open_clip_train.main as trainer

    get_data = getattr(trainer.get_data, "__wrapped__", trainer.get_data)

    def get_data_picking_captions(args, preprocess_fns, epoch=0, tokenizer=None):
        return get_data(args, preprocess_fns, epoch=epoch, tokenizer=CaptionPickingTokenizer(tokenizer, mode))

    get_data_picking_captions.__wrapped__ = get_data
    trainer.get_data = get_data_picking_captions
