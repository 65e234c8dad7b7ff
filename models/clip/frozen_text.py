"""A locked Hugging Face text tower computed once per distinct caption.

open_clip's `--lock-text` freezes the tower's weights (`HFTextEncoder.lock`), yet its trainer runs the whole
frozen transformer forward on every caption of every step; only the projection on top learns. A fully
locked tower (no unlocked layers, layer norms frozen too) is a fixed function of the token ids once its
dropout is off, so `install()` makes it one: the first time a tokenized caption is seen, its pooled
output is computed in eval mode without gradients and kept; later steps take it from the cache and only
run the projection. The captions of a classification source are few and drawn again every epoch (the
CPU demo trains on about 220 distinct captions), so after the first epoch a step costs the image tower
and the projection alone. A partly locked tower, or an unlocked one, runs as open_clip runs it.
"""

from __future__ import annotations

import itertools

# Pooled outputs kept at most (a 384-wide float32 row is 1.5 kB: 300 MB at most for MiniLM); past that,
# new captions are computed every time they come, as without the cache. Image-text sources with a report
# per image fill it; their captions then cost what open_clip's locked tower costs.
MAX_CACHED = 200_000


def install() -> None:
    """Patch open_clip's HFTextEncoder so that a fully locked tower caches its pooled outputs."""
    import torch
    from open_clip.hf_model import HFTextEncoder

    if getattr(HFTextEncoder, "_medpairs_frozen_cache", False):
        return
    lock, forward = HFTextEncoder.lock, HFTextEncoder.forward

    def locked(self, unlocked_layers: int = 0, freeze_layer_norm: bool = True):
        lock(self, unlocked_layers, freeze_layer_norm)
        if not unlocked_layers and freeze_layer_norm and not self.output_tokens:
            self.frozen_outputs = {}

    def cached_forward(self, x):
        cache = getattr(self, "frozen_outputs", None)
        if cache is None:
            return forward(self, x)
        keys = [row.tobytes() for row in x.cpu().numpy()]
        missing = sorted({k: i for i, k in enumerate(keys) if k not in cache}.values())
        fresh = {}
        if missing:
            ids = x[missing]
            mask = (ids != self.config.pad_token_id).long()
            was_training = self.transformer.training
            self.transformer.eval()
            with torch.no_grad():
                pooled = self.pooler(self.transformer(input_ids=ids, attention_mask=mask), mask)
            self.transformer.train(was_training)
            fresh = dict(zip((keys[i] for i in missing), pooled))
            cache.update(itertools.islice(fresh.items(), max(0, MAX_CACHED - len(cache))))
        return self.proj(torch.stack([fresh[k] if k in fresh else cache[k] for k in keys]))

    HFTextEncoder.lock, HFTextEncoder.forward = locked, cached_forward
    HFTextEncoder._medpairs_frozen_cache = True
