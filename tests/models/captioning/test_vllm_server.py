"""The http backend against a real vLLM server (the CPU build from .venv-vllm, as class_captions starts
it): free text, JSON-schema structured output through `response_format`, and the caption schema
without the keywords a decoder refuses. Also the server command and flags, without vLLM."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from models.captioning.http_backend import HTTPBackend, HTTPBackendError
from models.captioning.structured import (
    CAPTION_SCHEMA,
    response_format,
    without_keywords,
)
from models.captioning.vllm_backend import loadable_model
from models.captioning.vllm_server import (
    SERVER_MODULE,
    VLLMServerError,
    entry_command,
    free_port,
    local_server,
    option_flags,
    server_argv,
    wait_ready,
)

MODEL = "smollm2-test"
PROMPTS = [[{"role": "user", "content": "Describe a chest X-ray with an enlarged heart in one sentence."}],
           [{"role": "system", "content": "You write short radiology captions."},
            {"role": "user", "content": "One sentence about an axial CT of a liver lesion."}]]


def test_option_flags_and_server_argv():
    assert option_flags({"max_num_seqs": 8, "enable_prefix_caching": False, "enforce_eager": True,
                         "limit_mm_per_prompt": {"image": 0}}) == [
        "--max-num-seqs", "8", "--no-enable-prefix-caching", "--enforce-eager", "--limit-mm-per-prompt", '{"image": 0}']
    argv = server_argv("/m", served_name="m1", host="127.0.0.1", port=9, max_model_len=1024, dtype="auto",
                       enforce_eager=False, chat_template="/t.jinja", engine_options={"max_num_seqs": 4})
    assert argv[:4] == ["-m", SERVER_MODULE, "--model", "/m"]
    assert " ".join(argv[4:]) == ("--served-model-name m1 --host 127.0.0.1 --port 9 --max-model-len 1024 --dtype auto "
                                  "--no-enforce-eager --tensor-parallel-size 1 --chat-template /t.jinja --max-num-seqs 4")


def test_wait_ready_fails_fast_when_the_server_died():
    with pytest.raises(VLLMServerError, match="stopped before it answered"):
        wait_ready(f"http://127.0.0.1:{free_port()}", timeout_s=30, alive=lambda: False)


def test_entry_point_runs_a_server_until_the_stop_file_appears(tmp_path):
    # The entry point as class_captions runs it (by path, without Pipes here), over a stand-in server
    # command: its log passes through, the stop file ends it cleanly, a server that exits on its own fails.
    stop = tmp_path / "stop"
    server = ["-c", "import time; print('Application startup complete.', flush=True); time.sleep(60)"]
    process = subprocess.Popen(entry_command(Path(sys.executable), stop, server), stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "Application startup complete."
    assert process.stdout.readline().startswith("vLLM server ready after")
    stop.touch()
    # The entry gives the server 30 s to stop on SIGTERM before it kills it: wait past that grace period.
    assert process.wait(timeout=90) == 0
    done = subprocess.run(entry_command(Path(sys.executable), stop.with_name("never"), ["-c", "print('bye')"]),
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1 and "bye" in done.stdout


def test_without_keywords_at_every_level():
    stripped = without_keywords(CAPTION_SCHEMA, ("minLength", "maxLength"))
    assert stripped["properties"]["caption"] == {"type": "string"}
    assert stripped["required"] == ["caption"] and "maxLength" in CAPTION_SCHEMA["properties"]["caption"]


@pytest.fixture(scope="module")
def vllm_server(vllm_python, model_cache, tmp_path_factory):
    """A real vLLM OpenAI server of SmolLM2 (converted from the GGUF), started by the same entry point
    and command class_captions uses, without Pipes (its log in a file, printed at the end)."""
    tmp = tmp_path_factory.mktemp("vllm")
    port = free_port()
    argv = server_argv(loadable_model(None, model_cache), served_name=MODEL, host="127.0.0.1", port=port,
                       max_model_len=1024, dtype="float32", enforce_eager=True,
                       engine_options={"max_num_seqs": 8, "kv_cache_memory_bytes": 512 << 20})
    with (tmp / "server.log").open("w") as log:
        try:
            with local_server(vllm_python, argv, log=log) as seconds:  # stopped cleanly, or an error
                print(f"vLLM server answered after {seconds:.1f} s")
                yield f"http://127.0.0.1:{port}"
        finally:
            print((tmp / "server.log").read_text()[-3000:])


def _chat(base_url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"{base_url}/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.mark.vllm
def test_http_backend_free_text(vllm_server):
    backend = HTTPBackend(vllm_server, model_name=MODEL, max_concurrency=2)
    started = time.perf_counter()
    out = backend.generate(PROMPTS, max_new_tokens=24, temperature=0.7, top_p=0.9, seed=1)
    seconds = time.perf_counter() - started
    print(f"{backend.tokens_generated} tokens in {seconds:.1f} s ({backend.tokens_generated / seconds:.1f} tokens/s)")
    assert len(out) == 2 and all(text.strip() for text in out)
    assert 2 <= backend.tokens_generated <= 2 * 24  # counted from the server's usage


@pytest.mark.vllm
def test_http_backend_structured_output_unwraps_json(vllm_server):
    backend = HTTPBackend(vllm_server, model_name=MODEL, structured_output=True, max_concurrency=2)
    out = backend.generate(PROMPTS, max_new_tokens=24, temperature=0.7, top_p=0.9, seed=2)
    assert all(text and not text.lstrip().startswith("{") for text in out)  # the caption, not its JSON


@pytest.mark.vllm
@pytest.mark.parametrize("refused", [(), ("minLength", "maxLength")], ids=["full-schema", "no-length-keywords"])
def test_json_schema_constrains_the_real_engine(vllm_server, refused):
    body = {"model": MODEL, "messages": PROMPTS[0], "max_tokens": 40, "temperature": 0.7, "seed": 3,
            "response_format": response_format(without_keywords(CAPTION_SCHEMA, refused))}
    status, reply = _chat(vllm_server, body)
    assert status == 200, reply
    content = reply["choices"][0]["message"]["content"]
    if reply["choices"][0]["finish_reason"] == "stop":  # complete: the schema's JSON, nothing around it
        assert set(json.loads(content)) == {"caption"}
    else:  # cut at max_tokens inside the string
        assert content.replace(" ", "").startswith('{"caption"')


@pytest.mark.vllm
def test_a_schema_the_engine_refuses_fails_at_once(vllm_server):
    # What the CPU build's grammar compiler (xgrammar) refuses: an invalid schema, answered 400, which the
    # http backend does not retry. (It takes minLength/maxLength, pattern and format, the last unenforced.)
    backend = HTTPBackend(vllm_server, model_name=MODEL, structured_output=True, max_retries=3)
    backend.schema = {"type": "object", "properties": {"caption": {"type": "nonsense"}}}
    with pytest.raises(HTTPBackendError, match=r"answered 400 after 1 attempt.*Grammar error"):
        backend.generate(PROMPTS[:1], max_new_tokens=8, temperature=0.7, top_p=0.9, seed=0)
    assert backend.retries == 0
