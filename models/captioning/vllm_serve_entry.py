"""Runs vLLM's OpenAI-compatible server until told to stop, its log sent back through Dagster Pipes.

    .venv-vllm/bin/python models/captioning/vllm_serve_entry.py --stop-file PATH -- <server argv>

What class_captions (backend: vllm) starts with `PipesSubprocessClient`; not meant to be typed. It runs
in the vLLM environment, by path, and imports only the standard library and dagster-pipes (MedPairs is
not installed there). The server runs as a child process: each of its log lines goes to the Dagster
run's log (and to stdout), the moment it answers is logged with its load time, and it is stopped when
`--stop-file` appears or the parent process goes away. A server that exits by itself fails the step
with its exit code.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

# A line of the server's own log that says it answers requests.
READY_MARK = "Application startup complete"


def _pipes():
    """The Pipes context when run by Dagster, else nothing (the lines go to stdout only)."""
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    return open_dagster_pipes() if PipesEnvVarParamsLoader().is_dagster_pipes_process() else nullcontext()


def _forward(stream, pipes, started: float) -> None:
    for raw in stream:
        line = raw.rstrip()
        print(line, flush=True)
        if pipes is not None and line:
            pipes.log.info(f"vllm: {line}")
        if READY_MARK in line:
            message = f"vLLM server ready after {time.monotonic() - started:.1f} s"
            print(message, flush=True)
            if pipes is not None:
                pipes.log.info(message)


def serve(stop_file: Path, argv: list[str], pipes=None, poll_s: float = 0.5) -> int:
    """Run the server until `stop_file` exists (0) or it exits by itself (its exit code)."""
    parent = os.getppid()
    started = time.monotonic()
    server = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              bufsize=1, start_new_session=True)
    reader = threading.Thread(target=_forward, args=(server.stdout, pipes, started), daemon=True)
    reader.start()
    try:
        while server.poll() is None:
            if stop_file.exists() or os.getppid() != parent:
                break
            time.sleep(poll_s)
        else:
            reader.join(timeout=5)
            return server.returncode or 1  # it stopped on its own: a failure, even with status 0
    finally:
        if server.poll() is None:
            server.terminate()  # the server shuts its engine down itself
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left of its engine's workers (their own process group)
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait()
    reader.join(timeout=5)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stop-file", type=Path, required=True, help="stop the server when this file appears")
    parser.add_argument("server", nargs=argparse.REMAINDER, help="-- then the server's arguments after `python`")
    args = parser.parse_args(argv)
    server = args.server[1:] if args.server[:1] == ["--"] else args.server
    with _pipes() as pipes:
        code = serve(args.stop_file, server, pipes)
        if code and pipes is not None:
            pipes.log.error(f"the vLLM server exited with status {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
