"""One caption per load and a seeded data order, through open_clip_train's own WebDataset pipeline (`get_data`
as its `main` calls it, with a real data-loader worker process): random draws differ across epochs; "first"
always takes the first line; the same seed loads the same samples in the same order with the same captions,
another seed does not."""

import zlib

import pytest
import torch
from clip_helpers import CAPTIONS_PER_SAMPLE, write_shards

from models.clip import trainer_data
from models.clip.caption_pick import CaptionPickingTokenizer
from models.clip.train import TrainSettings, build_train_argv


def pixel_id(image) -> torch.Tensor:
    """Stands in for the image transform: the sample's identity, from its pixels."""
    return torch.tensor([zlib.crc32(image.tobytes())])


def variant_tokenizer(texts, context_length=None) -> torch.Tensor:
    """Stands in for the tokenizer: 'An X-ray image showing a left lesion, variant 2.' -> [[2]]."""
    return torch.tensor([[int(t.rstrip(".").rsplit(" ", 1)[1])] for t in texts])


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> tuple[str, int]:
    return write_shards(str(tmp_path_factory.mktemp("shards")), n=48, per_shard=12)


def _loads_per_epoch(shards, tmp_path, mode: str, epochs: int = 2, seed: int = 0) -> list[list[tuple[int, int]]]:
    """(sample id, caption variant) in load order for each epoch, as open_clip_train's main would load them."""
    import open_clip_train.main as trainer
    from open_clip_train.params import parse_args

    pattern, n = shards
    settings = TrainSettings(batch_size=8, workers=1, seed=seed)
    args = parse_args(build_train_argv(pattern, n, str(tmp_path), "run", settings))
    args.world_size, args.rank, args.distributed = 1, 0, False
    trainer_data.install(mode)
    torch.manual_seed(seed)  # open_clip seeds torch from --seed before building its data
    data = trainer.get_data(args, (pixel_id, pixel_id), epoch=0, tokenizer=variant_tokenizer)["train"]
    per_epoch = []
    for epoch in range(epochs):
        data.set_epoch(epoch)
        per_epoch.append([(i, v) for images, texts in data.dataloader
                          for i, v in zip(images[:, 0].tolist(), texts[:, 0].tolist())])
    return per_epoch


def _picks_per_epoch(shards, tmp_path, mode: str) -> list[dict[int, int]]:
    return [dict(loads) for loads in _loads_per_epoch(shards, tmp_path, mode)]


@pytest.fixture
def restore_trainer(monkeypatch):
    import open_clip_train.main as trainer

    monkeypatch.setattr(trainer, "get_data", trainer.get_data)


def test_random_pick_draws_other_captions_each_epoch(shards, tmp_path, restore_trainer):
    first, second = _picks_per_epoch(shards, tmp_path, "random")
    assert len(first) == len(second) == 48  # every sample, once per epoch
    assert set(first.values()) | set(second.values()) == set(range(CAPTIONS_PER_SAMPLE))
    changed = sum(first[s] != second[s] for s in first)
    assert changed > 48 // 3  # about 2/3 of samples draw another caption


def test_first_pick_is_deterministic(shards, tmp_path, restore_trainer):
    for picks in _picks_per_epoch(shards, tmp_path, "first"):
        assert len(picks) == 48 and set(picks.values()) == {0}


def test_the_seed_fixes_order_and_draws(shards, tmp_path, restore_trainer):
    run = _loads_per_epoch(shards, tmp_path, "random")
    assert _loads_per_epoch(shards, tmp_path, "random") == run  # sample by sample, epoch by epoch
    assert run[0] != run[1]  # each epoch is shuffled anew
    other = _loads_per_epoch(shards, tmp_path, "random", seed=1)
    assert [i for i, _ in other[0]] != [i for i, _ in run[0]]


def test_install_wraps_the_trainers_get_data_once(restore_trainer):
    import open_clip_train.data
    import open_clip_train.main as trainer

    trainer_data.install("random")
    trainer_data.install("first")
    assert trainer.get_data.__wrapped__ is open_clip_train.data.get_data


def test_tokenizer_wrapper_passes_single_captions_and_context_length_through():
    seen = []

    def tokenizer(texts, context_length=None):
        seen.append((texts, context_length))
        return torch.zeros(len(texts), 4)

    wrapped = CaptionPickingTokenizer(tokenizer, "first")
    wrapped("one caption")
    wrapped(["a\nb", "\nc\n"], context_length=8)
    assert seen == [(["one caption"], None), (["a", "c"], 8)]
    with pytest.raises(ValueError):
        CaptionPickingTokenizer(tokenizer, "longest")
