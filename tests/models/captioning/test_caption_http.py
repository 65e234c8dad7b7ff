"""The http backend against real OpenAI-compatible servers on 127.0.0.1 (models/captioning/serve.py):
request format, bounded concurrency, retries on 503/429 and refused connections, errors that must
not be retried, and real SmolLM2 captions end to end through the server."""

import contextlib
import json
import socket
import threading
import time
import urllib.request

import pytest

from assets.captions.synthesize import synthesize_class_captions
from assets.sources.catalog import ClassInfo, SourceSpec
from models.captioning.backends import BACKENDS, HTTPBackend
from models.captioning.http_backend import HTTPBackendError
from models.captioning.serve import ChatCompletionsHandler
from tests.models.captioning.server_helpers import running_server


class EchoBackend:
    """Answers each conversation with its last message; slow on purpose to let requests overlap."""

    model_id = "echo-1"

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.batches: list[int] = []
        self.params: list[dict] = []

    def generate(self, conversations, *, max_new_tokens, temperature, top_p, seed):
        time.sleep(self.delay)
        self.batches.append(len(conversations))
        self.params.append({"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p})
        return [f"echo: {c[-1]['content']}" for c in conversations]


class InstrumentedHandler(ChatCompletionsHandler):
    """Counts requests in flight and answers the first `server.fail_first` with `server.fail_status`."""

    _answered = True  # nothing in flight to count down (a GET); do_POST counts its request up

    def do_POST(self):
        srv = self.server
        self._answered = False
        with srv.lock:
            n = srv.posts
            srv.posts += 1
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            if n < srv.fail_first:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(srv.fail_status)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            srv.headers_seen.append(dict(self.headers))
            super().do_POST()
        finally:
            self._answer_starts()

    def send_response(self, code, message=None):
        # A request stops counting once its answer starts: the client may send its next one as soon as it
        # has read this answer, before do_POST has returned (counting until then once saw 4 of 3 in flight).
        self._answer_starts()
        super().send_response(code, message)

    def _answer_starts(self):
        if not self._answered:
            self._answered = True
            with self.server.lock:
                self.server.in_flight -= 1


@contextlib.contextmanager
def serving(backend, *, fail_first=0, fail_status=503, **kwargs):
    with running_server(backend, handler=InstrumentedHandler, **kwargs) as server:
        # set before the test sends its first request
        server.lock = threading.Lock()
        server.posts = server.in_flight = server.max_in_flight = 0
        server.fail_first, server.fail_status = fail_first, fail_status
        server.headers_seen = []
        yield server, f"http://127.0.0.1:{server.server_address[1]}"


def _chats(n):
    return [[{"role": "system", "content": "sys"}, {"role": "user", "content": f"request {i}"}] for i in range(n)]


def test_registered_and_needs_a_model_name():
    assert BACKENDS["http"] is HTTPBackend
    with pytest.raises(ValueError, match="model_name"):
        HTTPBackend.model_id_for(model_name="")


def test_request_body_follows_the_openai_api():
    backend = HTTPBackend("http://host:8000/v1/", model_name="m", structured_output=True)
    assert backend.url == "http://host:8000/v1/chat/completions"
    body = backend.request_body([{"role": "user", "content": "x"}, {"role": "assistant", "content": "Axial"}],
                                max_new_tokens=32, temperature=0.5, top_p=0.8, seed=9)
    assert body["model"] == "m" and body["max_tokens"] > 32 and body["seed"] == 9 and body["n"] == 1
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["caption"]


def test_answers_in_order_within_the_concurrency_bound():
    echo = EchoBackend(delay=0.2)
    with serving(echo, batch_size=1) as (server, url):
        backend = HTTPBackend(url, model_name="echo-1", max_concurrency=3, api_key="secret-token")
        out = backend.generate(_chats(12), max_new_tokens=20, temperature=0.3, top_p=0.8, seed=1)
        assert out == [f"echo: request {i}" for i in range(12)]
        # never more than the bound in flight, and requests did overlap (how many at once depends on the
        # machine's load: on a busy one the first answer can come back before the third request is sent)
        assert server.posts == 12 and 1 < server.max_in_flight <= 3
        assert all(h.get("Authorization") == "Bearer secret-token" for h in server.headers_seen)
        assert backend.tokens_generated == 12 * 3  # the server's usage.completion_tokens (words here)
        assert echo.params[0] == {"max_new_tokens": 20, "temperature": 0.3, "top_p": 0.8}


def test_server_batches_concurrent_requests():
    echo = EchoBackend()
    with serving(echo, batch_size=8, batch_wait_s=0.3) as (server, url):
        HTTPBackend(url, model_name="echo-1", max_concurrency=8).generate(
            _chats(8), max_new_tokens=8, temperature=0.7, top_p=0.9, seed=0)
    assert sum(echo.batches) == 8 and max(echo.batches) > 1


@pytest.mark.parametrize("status", [503, 429])
def test_retries_until_the_server_recovers(status):
    with serving(EchoBackend(), fail_first=3, fail_status=status) as (server, url):
        backend = HTTPBackend(url, model_name="echo-1", max_concurrency=1, max_retries=3, backoff_s=0.01)
        assert backend.generate(_chats(2), max_new_tokens=8, temperature=0.7, top_p=0.9, seed=0) == [
            "echo: request 0", "echo: request 1"]
        assert server.posts == 5 and backend.retries == 3


def test_gives_up_after_max_retries():
    with serving(EchoBackend(), fail_first=100) as (server, url):
        backend = HTTPBackend(url, model_name="echo-1", max_retries=2, backoff_s=0.01)
        with pytest.raises(HTTPBackendError, match="503 after 3 attempt"):
            backend.generate(_chats(1), max_new_tokens=8, temperature=0.7, top_p=0.9, seed=0)
        assert server.posts == 3


@pytest.mark.parametrize(("kwargs", "status"), [({"model_name": "other-model"}, "404"),
                                                ({"model_name": "echo-1", "structured_output": True}, "400")])
def test_client_errors_are_not_retried(kwargs, status):
    with serving(EchoBackend()) as (server, url):
        backend = HTTPBackend(url, max_retries=3, backoff_s=0.01, **kwargs)
        with pytest.raises(HTTPBackendError, match=f"answered {status} after 1 attempt"):
            backend.generate(_chats(1), max_new_tokens=8, temperature=0.7, top_p=0.9, seed=0)
        assert server.posts == 1


def test_refused_connections_are_retried_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    backend = HTTPBackend(f"http://127.0.0.1:{port}", model_name="m", max_retries=2, backoff_s=0.01, timeout_s=2)
    with pytest.raises(HTTPBackendError, match="unreachable after 3 attempt"):
        backend.generate(_chats(1), max_new_tokens=8, temperature=0.7, top_p=0.9, seed=0)
    assert backend.retries == 2


def test_models_endpoint():
    with serving(EchoBackend()) as (_, url):
        with urllib.request.urlopen(f"{url}/v1/models") as r:
            assert json.loads(r.read())["data"][0]["id"] == "echo-1"


def test_real_smollm2_captions_through_the_server(smollm2):
    source = SourceSpec("http_xray", "xray", classes=(
        ClassInfo("normal", "A chest radiograph with clear lungs and a normal-sized heart.", ("clear lungs",)),
        ClassInfo("pneumonia", "A chest radiograph with a patchy airspace opacity in one lung.", ("consolidation",))))
    with serving(smollm2, batch_size=8, batch_wait_s=0.2) as (server, url):
        backend = HTTPBackend(url, model_name=smollm2.model_id, max_concurrency=4)
        rows, stats = synthesize_class_captions(backend, [source], captions_per_class=2, max_rounds=1, seed=0)
    assert stats["generated"] == 4 and server.posts == 4 and max(server.batcher.batches) > 1
    assert stats["tokens_generated"] > 4 * 3
    llm = [r for r in rows if r["origin"] == "llm"]
    assert all(r["caption"] and r["model_id"] == "SmolLM2-135M-Instruct.Q4_1.gguf" for r in llm)
    assert sum(len([r for r in rows if r["label"] == c and r["status"] == "valid"]) for c in ("normal", "pneumonia")) == 4
