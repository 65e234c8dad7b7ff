"""One caption per load from a sample holding several (UniMed's multi-caption augmentation).

The export writes every candidate caption of a sample into its `.txt`, one per line. open_clip's WebDataset
pipeline hands that text to the tokenizer (`tokenizer(text)[0]`) each time it loads the sample, so the
tokenizer is the seam: `CaptionPickingTokenizer` picks one line there, then tokenizes it.

- `"random"`: a line drawn at random on every load, so each epoch sees other captions. The draws come from
  a generator per rank, data-loader worker and epoch, seeded from `--seed` (`epoch_seeds.EpochSeeds`), so
  two runs with the same seed draw the same captions for the same samples.
- `"first"`: always the first line (with `captions="one"` exports, the exported pick).

`trainer_data.install` makes open_clip_train's `main` hand the wrapped tokenizer to its datasets, leaving
the tokenizer it uses for zero-shot evaluation untouched.
"""

from __future__ import annotations

import random
from typing import Literal

from models.clip.epoch_seeds import EpochSeeds

CaptionPick = Literal["random", "first"]
PICKS: tuple[str, ...] = ("random", "first")


class CaptionPickingTokenizer:
    """An open_clip tokenizer that tokenizes one caption of each newline-separated text."""

    def __init__(self, tokenizer, mode: CaptionPick = "random", seeds: EpochSeeds | None = None):
        if mode not in PICKS:
            raise ValueError(f"caption pick must be one of {PICKS}, not {mode!r}")
        self.tokenizer = tokenizer
        self.mode = mode
        self.seeds = seeds or EpochSeeds()
        self._rng: random.Random | None = None
        self._key: tuple | None = None

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
        # A new generator in every data-loader worker and every epoch: a run's draws depend on the seed only.
        key = self.seeds.key()
        if key != self._key:
            self._rng, self._key = self.seeds.rng("caption"), key
        return self._rng
