"""The GPU section of the suite: runs only where `torch.cuda.is_available()`, otherwise records "no GPU".

- ViT-B/16 training samples/s: measured by `python -m bench.export_training --gpu` (the suite passes
  `--gpu` when CUDA is present); this module copies its GPU figures onto the page if that file has them.
- vLLM generation throughput (tokens/s over a batch of caption prompts) when `vllm` imports and a local
  model is given with `--vllm-model PATH` (the device machine has no network, so no model is fetched).

Writes bench/results/gpu.json. Usage:
    python -m bench.gpu [--vllm-model /path/to/model] [--prompts 256]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone

from bench.output import RESULTS_DIR, write_results


def vllm_throughput(model: str, prompts: int) -> dict:
    from vllm import LLM, SamplingParams

    llm = LLM(model=model)
    texts = [f"Describe a chest X-ray showing finding number {i} in one sentence." for i in range(prompts)]
    started = time.perf_counter()
    outputs = llm.generate(texts, SamplingParams(max_tokens=64, temperature=0.7, seed=0))
    seconds = time.perf_counter() - started
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    return {"model": model, "prompts": prompts, "seconds": round(seconds, 2), "tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1), "captions_per_s": round(prompts / seconds, 1)}


def run(vllm_model: str, prompts: int) -> dict:
    import torch

    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "figures": []}
    if not torch.cuda.is_available():
        return {**result, "available": False, "note": "no GPU: the GPU section was not run"}
    result.update(available=True, device=torch.cuda.get_device_name(0))
    notes = []
    path = os.path.join(RESULTS_DIR, "export_training.json")
    gpu_train = json.load(open(path)).get("gpu") if os.path.exists(path) else None
    if gpu_train:
        result["vit_b16"] = gpu_train
    else:
        notes.append("no ViT-B/16 figures in export_training.json (run it with --gpu)")
    try:
        import vllm
    except ImportError:
        notes.append("vllm not installed: no vLLM throughput")
    else:
        if vllm_model:
            result["vllm"] = {"version": vllm.__version__, **vllm_throughput(vllm_model, prompts)}
            result["figures"].append({"stage": "vLLM captions", "unit": "tokens/s",
                                      "value": result["vllm"]["tokens_per_s"], "baseline": "-",
                                      "baseline_value": None, "ratio": None})
        else:
            notes.append("vllm installed but no --vllm-model given: no vLLM throughput")
    result["note"] = "; ".join(notes) or None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vllm-model", default=os.environ.get("MEDPAIRS_BENCH_VLLM_MODEL", ""))
    parser.add_argument("--prompts", type=int, default=256)
    args = parser.parse_args()
    result = run(args.vllm_model, args.prompts)
    write_results("gpu", result)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
