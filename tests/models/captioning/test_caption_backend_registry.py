"""Choosing a backend from config: the names, which options reach which backend, model ids known
without loading, structured-output unwrapping, per-request seeds, and the Dagster resource."""

import inspect

import pytest

from models.captioning.backends import BACKENDS, backend_model_id, backend_options, build_backend
from models.captioning.structured import request_seed, unwrap
from pipelines.resources import CaptionBackendResource

OPTIONS = {"model_path": "/models/qwen", "batch_size": 8, "cache_dir": "", "tensor_parallel_size": 4,
           "gpu_memory_utilization": 0.5, "structured_output": None, "base_url": "http://llm:8000",
           "model_name": "qwen-7b", "api_key": "k", "max_concurrency": 2, "timeout_s": 5.0}


def test_names_and_options_per_backend():
    assert set(BACKENDS) == {"transformers", "vllm", "http"}
    assert backend_options("transformers", OPTIONS) == {"model_path": "/models/qwen", "batch_size": 8}
    assert backend_options("vllm", OPTIONS) == {"model_path": "/models/qwen", "tensor_parallel_size": 4,
                                                "gpu_memory_utilization": 0.5}
    assert backend_options("http", OPTIONS) == {"base_url": "http://llm:8000", "model_name": "qwen-7b",
                                                "api_key": "k", "max_concurrency": 2, "timeout_s": 5.0}
    for name in BACKENDS:  # every option a backend names is a keyword of its constructor
        assert set(BACKENDS[name].OPTIONS) <= set(inspect.signature(BACKENDS[name].__init__).parameters)


def test_model_ids_without_loading():
    assert backend_model_id("transformers", {}) == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert backend_model_id("vllm", OPTIONS) == "qwen"
    assert backend_model_id("http", OPTIONS) == "qwen-7b"


def test_build_http_backend_from_the_resource():
    resource = CaptionBackendResource(backend="http", base_url="http://llm:8000", model_name="qwen-7b",
                                      max_concurrency=3, api_key="k")
    assert resource.caption_model_id() == "qwen-7b"
    backend = resource.build()  # an http backend connects only when it generates
    assert backend.model_id == "qwen-7b" and backend.max_concurrency == 3 and backend.api_key == "k"
    assert backend.url == "http://llm:8000/v1/chat/completions" and backend.structured_output is False
    assert build_backend("http", {**OPTIONS, "structured_output": True}).structured_output is True
    with pytest.raises(ValueError, match="model_name"):
        CaptionBackendResource(backend="http", base_url="http://llm:8000").caption_model_id()


@pytest.mark.parametrize(("text", "caption"), [
    ('{"caption": "Chest X-ray with a right pleural effusion."}', "Chest X-ray with a right pleural effusion."),
    ('  {"caption": "Axial CT showing a \\"target\\" sign', 'Axial CT showing a "target" sign'),  # cut off
    ("Plain text caption.", "Plain text caption."),
    ('{"other": 1}', '{"other": 1}'),
])
def test_unwrap(text, caption):
    assert unwrap(text) == caption


def test_request_seeds_differ_within_and_across_batches():
    seeds = {request_seed(s, i) for s in range(3) for i in range(100)}
    assert len(seeds) == 300 and all(0 <= s < 2**31 for s in seeds)
