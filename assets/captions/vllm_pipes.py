"""The caption backend for class_captions: built in process, or (backend: vllm) vLLM's server started
out of process in its own environment through Dagster Pipes and spoken to with the http backend.

The server starts only when a caption set is not cached (the first call of the returned `build`), runs
in a thread that `PipesSubprocessClient.run` blocks, streams its log into the run's log, and is stopped
(a stop file its entry point watches) when the step leaves the block, whatever happened in it.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from assets.captions.resource import CaptionBackendResource, VLLMOptions
from models.captioning.backends import CaptionBackend
from models.captioning.http_backend import HTTPBackend
from models.captioning.vllm_backend import VLLMBackend, loadable_model
from models.captioning.vllm_server import (
    VLLMServerError,
    entry_command,
    free_port,
    server_argv,
    server_env,
    vllm_python,
    wait_ready,
)


@contextmanager
def caption_backend(caption_llm: CaptionBackendResource, context: dg.AssetExecutionContext,
                    pipes: dg.PipesSubprocessClient) -> Iterator[Callable[[], CaptionBackend]]:
    """A `build()` for the chosen backend; for vllm it starts the server through Pipes on first use.
    What it built is closed on the way out (the transformers backend's generation processes)."""
    if caption_llm.backend != "vllm":
        built: list[CaptionBackend] = []

        def build_and_keep() -> CaptionBackend:
            built.append(caption_llm.build())
            return built[-1]

        try:
            yield build_and_keep
        finally:
            for backend in built:
                getattr(backend, "close", lambda: None)()
        return
    options = caption_llm.vllm
    python = vllm_python(options.python)  # a missing environment fails before anything is generated
    with tempfile.TemporaryDirectory(prefix="medpairs-vllm-") as tmp:
        stop_file = Path(tmp) / "stop"
        server: dict = {}

        def build() -> CaptionBackend:
            port = free_port()
            thread = threading.Thread(target=_run, name="vllm-server", daemon=True, args=(
                server, pipes, context, entry_command(python, stop_file, server_argv_for(options, port))))
            server["thread"] = thread
            thread.start()
            base_url = f"http://127.0.0.1:{port}"
            context.log.info(f"vLLM server starting from {python} on {base_url} (the model loads first)")
            seconds = wait_ready(base_url, timeout_s=options.startup_timeout_s, alive=thread.is_alive)
            context.log.info(f"vLLM server answers after {seconds:.1f} s")
            return client_for(options, base_url)

        try:
            yield build
        finally:
            if "thread" in server:
                stop_file.touch()
                server["thread"].join(timeout=120)
        if "error" in server:
            raise VLLMServerError(f"the vLLM server failed: {server['error']}") from server["error"]


def server_argv_for(options: VLLMOptions, port: int) -> list[str]:
    """The server's command line (after `python`) for the vllm block's options, on 127.0.0.1:`port`."""
    return server_argv(
        loadable_model(options.model_path, options.cache_dir), served_name=VLLMBackend.model_id_for(options.model_path),
        host="127.0.0.1", port=port, max_model_len=options.max_model_len, dtype=options.dtype,
        enforce_eager=options.enforce_eager, chat_template=options.chat_template,
        tensor_parallel_size=options.tensor_parallel_size, gpu_memory_utilization=options.gpu_memory_utilization,
        engine_options=options.engine_options)


def client_for(options: VLLMOptions, base_url: str) -> HTTPBackend:
    """The http backend that sends the step's requests to the server at `base_url`."""
    return HTTPBackend(base_url, model_name=VLLMBackend.model_id_for(options.model_path),
                       max_concurrency=options.max_concurrency, structured_output=options.structured_output,
                       refused_schema_keywords=options.refused_schema_keywords)


def _run(server: dict, pipes: dg.PipesSubprocessClient, context: dg.AssetExecutionContext, command: list[str]) -> None:
    try:
        pipes.run(command=command, context=context, env=server_env())
    except Exception as e:  # noqa: BLE001  (any failure: re-raised by the step once it left the block)
        server["error"] = e
