"""One real SmolLM2 backend for every test here that needs the model (loading takes ~15 s), held in this
process (processes=1), so tests can reach its tokenizer and model."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def smollm2():
    from models.captioning.transformers_backend import TransformersBackend

    threads = torch.get_num_threads()
    yield TransformersBackend(batch_size=16, processes=1)
    torch.set_num_threads(threads)  # the backend sets torch's process-wide thread count
