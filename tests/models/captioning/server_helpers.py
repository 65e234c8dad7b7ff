"""MedPairs' own OpenAI-compatible caption server (models/captioning/serve.py) on a free loopback port, in a
thread, for the tests that speak to it over HTTP."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from models.captioning.serve import make_server


@contextlib.contextmanager
def running_server(backend, **kwargs) -> Iterator:
    """The server of `backend` (make_server's keyword arguments: handler, batch_size, ...) serving until the
    block ends; its URL is http://127.0.0.1:{server.server_address[1]}."""
    server = make_server(backend, port=0, **kwargs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        server.batcher.close()
