"""Continuous batched sampling for a Hugging Face causal LM on CPU.

`model.generate` runs every row of a batch until the longest row ends, and re-runs the shared part
of the prompts for every row. This loop instead
- runs the prompt prefix that a group of requests shares once, and keeps it: a later group
  computes only what its prefix adds to the stored prefix it shares most with,
- drops a row from the batch as soon as it stops, and
- refills the batch from the queue, left-padding the smaller key/value cache to merge the two,
so each forward step works on up to `max_batch` live rows. Rows stay right-aligned: padding is on
the left or between the shared prefix and a row's own prompt, and masked out; position ids are
counted per row.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import torch
from transformers import DynamicCache

TOP_K = 64  # top-p is taken within the 64 most likely tokens, which hold nearly all the mass
PREFIX_CACHE_SIZE = 48  # prompt prefixes kept (a few MB each for a 135M model)
GROUP_SHARE = 0.9  # rows sharing this much of their prompt with the row before prefill as one group


class ContinuousSampler:
    """Samples completions for token-id prompts with a model and a stop test on decoded text."""

    def __init__(self, model, *, max_batch: int, eos_ids: set[int], stop: Callable[[list[int]], bool] | None,
                 share_prefix: bool = True, refill_fraction: float = 0.25):
        self.model = model
        self.max_batch = max_batch
        self.eos_ids = eos_ids
        self.stop = stop
        self.share_prefix = share_prefix
        # Refill once this fraction of the batch has finished (a refill costs one prefill pass).
        self.refill_at = max(1, int(max_batch * refill_fraction))
        self._prefixes: dict[tuple[int, ...], DynamicCache] = {}  # shared prompt prefixes, batch 1

    @torch.inference_mode()
    def run(self, prompts: list[list[int]], *, max_new_tokens: int, temperature: float, top_p: float,
            seed: int, on_done: Callable[[int], None] | None = None) -> list[list[int]]:
        """Generated token ids per prompt (end token excluded), in prompt order. `on_done` is told how
        many prompts finished after each step that finished some."""
        gen = torch.Generator().manual_seed(seed)
        queue = deque(range(len(prompts)))
        out: list[list[int]] = [[] for _ in prompts]
        rows: list[int] = []  # prompt index of each live row
        cache, mask, positions, logits = None, None, None, None
        while queue or rows:
            if queue and len(rows) <= self.max_batch - self.refill_at:
                take = [queue.popleft() for _ in range(min(self.max_batch - len(rows), len(queue)))]
                new = self._prefill([prompts[i] for i in take])
                cache, mask, positions, logits = _merge((cache, mask, positions, logits), new)
                rows += take
            tokens = _sample(logits, temperature, top_p, gen)
            keep = []
            for r, (i, token) in enumerate(zip(rows, tokens.tolist())):
                if token in self.eos_ids:
                    continue
                out[i].append(token)
                if len(out[i]) < max_new_tokens and not (self.stop and self.stop(out[i])):
                    keep.append(r)
            if len(keep) < len(rows):
                if on_done is not None:
                    on_done(len(rows) - len(keep))
                index = torch.tensor(keep, dtype=torch.long)
                cache.batch_select_indices(index)
                mask, positions, tokens = mask[index], positions[index], tokens[index]
                rows = [rows[r] for r in keep]
                cache, mask = _trim_left(cache, mask)
            if not rows:
                cache = mask = positions = logits = None
                continue
            mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
            result = self.model(input_ids=tokens[:, None], attention_mask=mask, position_ids=positions[:, None],
                                past_key_values=cache, use_cache=True)
            logits = result.logits[:, -1].float()
            positions = positions + 1
        return out

    def _prefill(self, rows: list[list[int]]):
        """Cache, mask, next position and last logits for new rows. Rows that share most of their
        prompt (the queue is sorted, so they are adjacent) form a group whose prefix runs once."""
        merged = (None, None, None, None)
        for group in _prefix_groups(rows) if self.share_prefix else [rows]:
            merged = _merge(merged, self._prefill_group(group))
        return merged

    def _prefill_group(self, rows: list[list[int]]):
        if not self.share_prefix:
            shared = 0
        elif len(rows) == 1:  # reuse what a stored prefix holds of this row
            shared = max((_common_prefix_len([list(k), rows[0]]) for k in self._prefixes), default=0)
        else:
            shared = _common_prefix_len(rows)
        shared = min(shared, min(len(r) for r in rows) - 1)  # every row keeps a token of its own
        width = max(len(r) for r in rows) - shared
        ids = torch.zeros((len(rows), shared + width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):
            own = len(row) - shared
            ids[i, :shared] = torch.tensor(row[:shared])
            ids[i, shared + width - own:] = torch.tensor(row[shared:])
            mask[i, :shared] = 1
            mask[i, shared + width - own:] = 1
        cache = self._prefix_cache(rows[0][:shared]) if shared else DynamicCache(config=self.model.config)
        cache.batch_repeat_interleave(len(rows))
        position_ids = (mask.cumsum(1) - 1).clamp(min=0)
        result = self.model(input_ids=ids[:, shared:], attention_mask=mask, position_ids=position_ids[:, shared:],
                            past_key_values=cache, use_cache=True, logits_to_keep=1)
        return cache, mask, mask.sum(1), result.logits[:, -1].float()

    def _prefix_cache(self, prefix: list[int]) -> DynamicCache:
        """A fresh batch-1 cache holding `prefix`, extending the stored prefix it shares most with."""
        key = tuple(prefix)
        if key not in self._prefixes:
            base, done = None, 0
            for stored in self._prefixes:
                n = _common_prefix_len([list(stored[: len(key)]), prefix])
                if n > done:
                    base, done = stored, n
            cache = _copy(self._prefixes[base], done) if base else DynamicCache(config=self.model.config)
            if done < len(key):
                self.model(input_ids=torch.tensor([prefix[done:]]), position_ids=torch.arange(done, len(key))[None],
                           past_key_values=cache, use_cache=True, logits_to_keep=1)
            if len(self._prefixes) >= PREFIX_CACHE_SIZE:
                self._prefixes.pop(next(iter(self._prefixes)))
            self._prefixes[key] = cache
        return _copy(self._prefixes[key])


def _prefix_groups(rows: list[list[int]]) -> list[list[list[int]]]:
    """Splits adjacent rows where a row shares less than GROUP_SHARE of its prompt with the one
    before: requests that differ only in their last words run as one group."""
    groups = [[rows[0]]]
    for prev, row in zip(rows, rows[1:]):
        if _common_prefix_len([prev, row]) >= GROUP_SHARE * len(row):
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _copy(cache: DynamicCache, length: int | None = None) -> DynamicCache:
    """A copy of a cache, holding its first `length` positions (all if None)."""
    fresh = DynamicCache()
    for i, layer in enumerate(_layers(cache)):
        fresh.update(layer.keys[:, :, :length].clone(), layer.values[:, :, :length].clone(), i)
    return fresh


def _sample(logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator) -> torch.Tensor:
    if temperature <= 0:
        return logits.argmax(-1)
    values, index = logits.topk(min(TOP_K, logits.shape[-1]), dim=-1)
    probs = torch.softmax(values / temperature, dim=-1)
    # Keep the smallest set of tokens whose mass reaches top_p (the first token always).
    drop = probs.cumsum(-1) - probs >= top_p
    probs = probs.masked_fill(drop, 0.0)
    choice = torch.multinomial(probs, 1, generator=gen)
    return index.gather(-1, choice).squeeze(-1)


def _common_prefix_len(rows: list[list[int]]) -> int:
    first, n = rows[0], min(len(r) for r in rows)
    for k in range(n):
        if any(r[k] != first[k] for r in rows):
            return k
    return n


def _layers(cache: DynamicCache):
    return [layer for layer in cache.layers if getattr(layer, "is_initialized", False)]


def _merge(old, new):
    """Stacks two batches' (cache, mask, positions, logits), left-padding the shorter cache."""
    if old[0] is None:
        return new
    (c1, m1, p1, l1), (c2, m2, p2, l2) = old, new
    width = max(m1.shape[1], m2.shape[1])
    for a, b in zip(_layers(c1), _layers(c2)):
        a.keys = torch.cat([_pad_left(a.keys, width, 2), _pad_left(b.keys, width, 2)], dim=0)
        a.values = torch.cat([_pad_left(a.values, width, 2), _pad_left(b.values, width, 2)], dim=0)
    mask = torch.cat([_pad_left(m1, width, 1), _pad_left(m2, width, 1)], dim=0)
    return c1, mask, torch.cat([p1, p2]), torch.cat([l1, l2])


def _pad_left(t: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    missing = width - t.shape[dim]
    if missing == 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([t.new_zeros(shape), t], dim=dim)


def _trim_left(cache: DynamicCache, mask: torch.Tensor):
    """Drops leading columns that are padding in every row."""
    used = mask.any(0).nonzero()
    start = int(used[0]) if len(used) else 0
    if start == 0:
        return cache, mask
    for layer in _layers(cache):
        layer.keys, layer.values = layer.keys[:, :, start:], layer.values[:, :, start:]
    return cache, mask[:, start:]
