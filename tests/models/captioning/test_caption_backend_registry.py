"""Choosing a backend from config: the names, which options reach which backend, model ids known
without loading, structured-output unwrapping, per-request seeds, and the Dagster resource."""

import inspect

import dagster as dg
import pytest

from assets.captions.resource import (
    SERVER_ONLY,
    CaptionBackendResource,
    HTTPOptions,
    TransformersOptions,
    VLLMOptions,
)
from models.captioning.backends import (
    BACKENDS,
    backend_model_id,
    build_backend,
    given_options,
)
from models.captioning.structured import request_seed, unwrap

BLOCKS = {"transformers": TransformersOptions, "vllm": VLLMOptions, "http": HTTPOptions}


def test_each_backend_block_holds_keywords_of_that_backend_with_its_defaults():
    assert set(BACKENDS) == set(BLOCKS) == set(CaptionBackendResource.model_fields) - {"backend"}
    for name, block in BLOCKS.items():
        params = inspect.signature(BACKENDS[name]).parameters
        # The vllm block also says how its server runs out of process (what the engine never sees).
        engine_fields = {f: i for f, i in block.model_fields.items() if name != "vllm" or f not in SERVER_ONLY}
        assert set(engine_fields) <= set(params), name
        assert set(block().options()) == set(engine_fields), name
        for field, info in engine_fields.items():  # a default is written once, in the backend
            if params[field].default not in (None, inspect.Parameter.empty):
                assert info.default == params[field].default, (name, field)


def test_a_misspelt_option_is_a_config_error_not_ignored():
    @dg.asset
    def uses(caption_llm: CaptionBackendResource) -> None:
        pass

    run_config = {"resources": {"caption_llm": {"config": {"backend": "vllm",
                                                           "vllm": {"tensor_paralel_size": 2}}}}}
    with pytest.raises(dg.DagsterInvalidConfigError, match="tensor_paralel_size"):
        dg.materialize([uses], resources={"caption_llm": CaptionBackendResource.configure_at_launch()},
                       run_config=run_config)
    with pytest.raises(TypeError, match="tensor_parallel_size"):  # the backend refuses what it does not take
        build_backend("http", {"base_url": "http://llm:8000", "model_name": "m", "tensor_parallel_size": 2})


def test_model_ids_without_loading():
    assert backend_model_id("transformers", {}) == "SmolLM2-135M-Instruct.Q4_1.gguf"
    # int8 Linear layers are other weights: another model id, so other cache keys.
    assert backend_model_id("transformers", {"quantize": "int8"}) == "SmolLM2-135M-Instruct.Q4_1.gguf+int8"
    assert CaptionBackendResource(transformers=TransformersOptions(quantize="int8")).caption_model_id().endswith("+int8")
    assert backend_model_id("vllm", {"model_path": "/models/qwen", "cache_dir": ""}) == "qwen"
    assert backend_model_id("http", {"model_name": "qwen-7b"}) == "qwen-7b"
    assert given_options({"model_path": "", "cache_dir": None, "batch_size": 8}) == {"batch_size": 8}


def test_build_http_backend_from_the_resource():
    resource = CaptionBackendResource(backend="http", http=HTTPOptions(
        base_url="http://llm:8000", model_name="qwen-7b", max_concurrency=3, api_key="k"))
    assert resource.caption_model_id() == "qwen-7b"
    assert resource.caption_generation() == {"backend": "http", "structured_output": False}
    backend = resource.build()  # an http backend connects only when it generates
    assert backend.model_id == "qwen-7b" and backend.max_concurrency == 3 and backend.api_key == "k"
    assert backend.url == "http://llm:8000/v1/chat/completions" and backend.structured_output is False
    assert CaptionBackendResource(backend="vllm").caption_generation() == {"backend": "vllm", "structured_output": True}
    with pytest.raises(ValueError, match="model_name"):
        CaptionBackendResource(backend="http", http=HTTPOptions(base_url="http://llm:8000")).caption_model_id()


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
