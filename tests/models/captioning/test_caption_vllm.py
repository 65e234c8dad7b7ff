"""The vLLM backend. Without vLLM: the whole generate path against a stand-in `vllm` module that
records what the backend hands it (engine options, chat calls, one SamplingParams per request,
structured output in the current and the older vLLM API). In the vLLM environment (.venv-vllm): the same
options are accepted by the real classes, and the real in-process engine writes completions."""

import json
import os
import subprocess
import sys
import types
from types import SimpleNamespace

import pytest

from models.captioning import vllm_backend
from models.captioning.backends import BACKENDS, VLLMBackend
from models.captioning.structured import CAPTION_SCHEMA, JSON_OVERHEAD_TOKENS


def _stand_in_vllm(structured_cls: str | None):
    """A `vllm` module whose LLM answers every chat with JSON naming the request's index."""

    class SamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class Structured:
        def __init__(self, json):
            self.json = json

    class LLM:
        instances: list = []

        def __init__(self, **kwargs):
            self.kwargs, self.calls = kwargs, []
            LLM.instances.append(self)

        def chat(self, messages, sampling_params, **kwargs):
            self.calls.append((messages, sampling_params, kwargs))
            return [SimpleNamespace(outputs=[SimpleNamespace(
                text=json.dumps({"caption": f"Answer to {m[-1]['content']}"}), token_ids=[1, 2, 3])])
                for m in messages]

    vllm = types.ModuleType("vllm")
    sampling = types.ModuleType("vllm.sampling_params")
    if structured_cls:
        setattr(sampling, structured_cls, Structured)
    vllm.LLM, vllm.SamplingParams, vllm.sampling_params = LLM, SamplingParams, sampling
    return vllm, sampling


@pytest.fixture(params=["StructuredOutputsParams", "GuidedDecodingParams"])
def fake_vllm(request, monkeypatch):
    vllm, sampling = _stand_in_vllm(request.param)
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    return vllm, request.param


def _conversations():
    return [[{"role": "system", "content": "s"}, {"role": "user", "content": "a"}],
            [{"role": "user", "content": "b"}, {"role": "assistant", "content": "Axial CT of"}],
            [{"role": "user", "content": "c"}]]


def test_registered_and_model_id_without_loading():
    assert BACKENDS["vllm"] is VLLMBackend
    assert VLLMBackend.model_id_for("/models/Qwen2.5-7B-Instruct") == "Qwen2.5-7B-Instruct"
    assert VLLMBackend.model_id_for(None) == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_engine_options_chat_calls_and_sampling_params(fake_vllm):
    vllm, structured_name = fake_vllm
    backend = VLLMBackend("/models/qwen", tensor_parallel_size=2, gpu_memory_utilization=0.6, max_model_len=2048,
                          dtype="bfloat16", chat_template="{{ messages }}")
    llm = vllm.LLM.instances[-1]
    assert llm.kwargs == {"model": "/models/qwen", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.6,
                          "max_model_len": 2048, "dtype": "bfloat16", "enforce_eager": False, "trust_remote_code": False}

    out = backend.generate(_conversations(), max_new_tokens=40, temperature=0.7, top_p=0.9, seed=5)
    assert out == ["Answer to a", "Answer to Axial CT of", "Answer to c"]  # unwrapped, in input order
    assert backend.tokens_generated == 9

    # Conversations ending with an assistant turn are continued, in their own call.
    (fresh, fresh_params, fresh_kw), (prefill, prefill_params, prefill_kw) = llm.calls
    assert [m[-1]["content"] for m in fresh] == ["a", "c"] and [m[-1]["content"] for m in prefill] == ["Axial CT of"]
    assert fresh_kw == {"use_tqdm": False, "chat_template": "{{ messages }}", "add_generation_prompt": True,
                        "continue_final_message": False}
    assert prefill_kw["add_generation_prompt"] is False and prefill_kw["continue_final_message"] is True

    params = [p.kwargs for p in fresh_params + prefill_params]
    assert len({p["seed"] for p in params}) == 3  # one seed per request
    field = {"StructuredOutputsParams": "structured_outputs", "GuidedDecodingParams": "guided_decoding"}[structured_name]
    for p in params:
        assert p["max_tokens"] == 40 + JSON_OVERHEAD_TOKENS and p["temperature"] == 0.7 and p["top_p"] == 0.9
        assert p["n"] == 1 and p[field].json == CAPTION_SCHEMA


def test_free_text_mode_and_greedy(monkeypatch):
    vllm, sampling = _stand_in_vllm(None)  # a vLLM without structured output
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    backend = VLLMBackend("/models/qwen", structured_output=False)
    out = backend.generate(_conversations()[:1], max_new_tokens=16, temperature=0.0, top_p=0.5, seed=0)
    assert out == ['{"caption": "Answer to a"}']  # returned as generated
    params = vllm.LLM.instances[-1].calls[0][1][0].kwargs
    assert params["max_tokens"] == 16 and params["top_p"] == 1.0
    assert "structured_outputs" not in params and "guided_decoding" not in params
    assert vllm_backend.structured_outputs_param(vllm, CAPTION_SCHEMA) is None


def test_gguf_models_are_converted_before_loading(monkeypatch, tmp_path):
    vllm, sampling = _stand_in_vllm("StructuredOutputsParams")
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    converted = []
    monkeypatch.setattr(vllm_backend, "export_hf_dir",
                        lambda path, cache: converted.append((path, cache)) or tmp_path / "hf")
    VLLMBackend(None, cache_dir=str(tmp_path))
    VLLMBackend("/models/x.gguf", cache_dir=str(tmp_path))
    assert [m.kwargs["model"] for m in vllm.LLM.instances[-2:]] == [str(tmp_path / "hf")] * 2
    assert converted == [(None, str(tmp_path)), ("/models/x.gguf", str(tmp_path))]


@pytest.mark.parametrize(("option", "value"), [("gpu_memory_utilization", 1.5), ("tensor_parallel_size", 0)])
def test_bad_engine_options_fail_before_loading(fake_vllm, option, value):
    with pytest.raises(ValueError, match=option):
        VLLMBackend("/models/qwen", **{option: value})


# --- in the vLLM environment (.venv-vllm) ------------------------------------------------------

# Run by .venv-vllm's interpreter with the project on PYTHONPATH (vllm_backend imports only the standard
# library and vLLM): the options the backend builds are accepted by the installed vLLM's classes, and
# the in-process engine writes one completion per conversation. vLLM's engine spawns its workers, hence
# the main guard.
IN_VLLM_ENV = """
import inspect, json, sys
import vllm
from models.captioning import vllm_backend
from models.captioning.structured import CAPTION_SCHEMA, JSON_OVERHEAD_TOKENS

def main():
    structured = vllm_backend.structured_outputs_param(vllm, CAPTION_SCHEMA)
    assert structured is not None and structured[0] == "structured_outputs", structured
    params = vllm.SamplingParams(**vllm_backend.sampling_kwargs(
        max_new_tokens=48, temperature=0.7, top_p=0.9, seed=3, structured=structured))
    assert params.max_tokens == 48 + JSON_OVERHEAD_TOKENS and params.seed == 3
    engine = vllm_backend.engine_kwargs("m", tensor_parallel_size=1, gpu_memory_utilization=0.5, max_model_len=1024,
                                        dtype="auto", enforce_eager=True)
    accepted = set(inspect.signature(vllm.LLM.__init__).parameters) | set(inspect.signature(vllm.EngineArgs).parameters)
    assert set(engine) <= accepted, set(engine) - accepted
    chat = set(inspect.signature(vllm.LLM.chat).parameters)
    assert {"sampling_params", "use_tqdm", "chat_template", "add_generation_prompt", "continue_final_message"} <= chat
    backend = vllm_backend.VLLMBackend(sys.argv[1], max_model_len=1024, dtype="float32", enforce_eager=True,
                                       engine_options={"max_num_seqs": 4, "kv_cache_memory_bytes": 512 << 20})
    out = backend.generate([[{"role": "user", "content": "One sentence about a chest X-ray with an enlarged heart."}],
                            [{"role": "user", "content": "Describe an axial CT of the liver."},
                             {"role": "assistant", "content": "Axial CT of the liver showing"}]],
                           max_new_tokens=20, temperature=0.7, top_p=0.9, seed=1)
    with open(sys.argv[2], "w") as f:  # not stdout, which vLLM's own lines share
        json.dump({"out": out, "tokens": backend.tokens_generated, "load_seconds": backend.load_seconds}, f)

if __name__ == "__main__":
    main()
"""


@pytest.mark.vllm
def test_backend_options_and_in_process_engine_in_the_vllm_environment(vllm_python, model_cache, tmp_path):
    from models.captioning.vllm_server import REPO_ROOT, server_env

    model = vllm_backend.loadable_model(None, model_cache)  # converted here: .venv-vllm has no gguf
    script = tmp_path / "in_vllm_env.py"
    script.write_text(IN_VLLM_ENV)
    done = subprocess.run([str(vllm_python), str(script), model, str(tmp_path / "result.json")], capture_output=True,
                          text=True, timeout=1200, check=False, env={**os.environ, **server_env(), "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    result = json.loads((tmp_path / "result.json").read_text())
    print(f"in-process vLLM: loaded in {result['load_seconds']:.1f} s, {result['tokens']} tokens")
    assert len(result["out"]) == 2 and all(text.strip() for text in result["out"])
    assert 2 <= result["tokens"] <= 2 * (20 + JSON_OVERHEAD_TOKENS)


@pytest.mark.slow
def test_default_gguf_exports_to_a_transformers_folder_once(tmp_path, monkeypatch):
    from models.captioning.transformers_backend import CONVERTED_MODELS_ENV, export_hf_dir

    monkeypatch.setenv(CONVERTED_MODELS_ENV, str(tmp_path / "not-installed"))  # as without setup's copy

    folder = export_hf_dir(None, tmp_path)
    assert (folder / "config.json").is_file() and list(folder.glob("*.safetensors"))
    assert (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file()
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert export_hf_dir(None, tmp_path) == folder and (folder / "config.json").stat().st_mtime_ns == stamp
    assert export_hf_dir(folder, tmp_path / "unused") == folder  # a folder is loaded as it is
    assert json.loads((folder / "config.json").read_text())["model_type"] == "llama"
