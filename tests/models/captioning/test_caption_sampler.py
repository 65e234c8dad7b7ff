"""The continuous batching sampler against transformers' own generate, on a tiny random Llama
(no download): batching, refills, shared prefixes and padding must not change greedy output."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from models.captioning.sampler import ContinuousSampler


@pytest.fixture(scope="module")
def model():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 2-layer model gains nothing from more, and loses a lot on a busy machine
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    yield LlamaForCausalLM(config).eval()
    torch.set_num_threads(threads)


def _prompts():
    shared = list(range(5, 35))
    return [shared + [20 + i] * (1 + i % 3) + [30 + i] for i in range(7)] + [[40, 41], [42, 43, 44, 45, 46]]


def _reference(model, prompt, max_new_tokens, eos):
    out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                         max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos, pad_token_id=0)
    tokens = out[0, len(prompt):].tolist()
    return tokens[: tokens.index(eos)] if eos in tokens else tokens


@pytest.mark.parametrize(("max_batch", "share_prefix"), [(1, False), (3, True), (4, False), (16, True)])
def test_greedy_output_matches_generate(model, max_batch, share_prefix):
    prompts = _prompts()
    sampler = ContinuousSampler(model, max_batch=max_batch, eos_ids={2}, stop=None, share_prefix=share_prefix)
    got = sampler.run(prompts, max_new_tokens=12, temperature=0.0, top_p=1.0, seed=0)
    want = [_reference(model, p, 12, 2) for p in prompts]
    assert got == want
    if share_prefix:
        assert sampler._prefixes  # the shared prompt prefix was run once and kept


def test_sampling_is_seeded_and_stops(model):
    sampler = ContinuousSampler(model, max_batch=4, eos_ids={2}, stop=lambda ids: ids[-1] % 5 == 0)
    a = sampler.run(_prompts(), max_new_tokens=10, temperature=0.8, top_p=0.9, seed=3)
    b = sampler.run(_prompts(), max_new_tokens=10, temperature=0.8, top_p=0.9, seed=3)
    c = sampler.run(_prompts(), max_new_tokens=10, temperature=0.8, top_p=0.9, seed=4)
    assert a == b and a != c
    for ids in a:
        assert 1 <= len(ids) <= 10 and 2 not in ids
        assert all(t % 5 for t in ids[:-1])  # a row ends at its first stop token or at the length limit
