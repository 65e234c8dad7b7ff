"""Seeds of the training data's random streams (sample shuffle, caption pick): one generator per stream,
run seed, rank, data-loader worker and epoch. An epoch's draws depend on nothing else, not on the clock,
the process id or how many draws earlier epochs made, so a resumed run's epochs draw what they would have
drawn."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class EpochSeeds:
    """Seeds for the random streams of the training data: `seed` and `rank` of the run, and `epoch`, the
    trainer's SharedEpoch (which open_clip sets before every epoch and data-loader workers read)."""

    seed: int = 0
    rank: int = 0
    epoch: object | None = None  # open_clip_train.data.SharedEpoch; None: always epoch 0

    def key(self) -> tuple[int, int]:
        """(data-loader worker id or -1 in the main process, epoch): where and when a draw happens."""
        import torch.utils.data

        worker = torch.utils.data.get_worker_info()
        return (worker.id if worker else -1), (self.epoch.get_value() if self.epoch is not None else 0)

    def rng(self, stream: str) -> random.Random:
        """A generator for `stream` in this worker and epoch (string seeds hash the same in every process)."""
        worker, epoch = self.key()
        return random.Random(f"{stream}:{self.seed}:{self.rank}:{worker}:{epoch}")
