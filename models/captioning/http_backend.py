"""The remote caption backend: an OpenAI-compatible `/v1/chat/completions` endpoint (`vllm serve`
elsewhere in a cluster, or `python -m models.captioning.serve`), through the standard library.

Requests run on a thread pool of `max_concurrency` workers, so at most that many are in flight.
A request that fails with 408, 429 or a 5xx status, a refused or dropped connection or a timeout
is retried up to `max_retries` times, after an exponential backoff with jitter (or the server's
Retry-After); any other error fails the batch at once.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from models.captioning.structured import (
    CAPTION_SCHEMA,
    JSON_OVERHEAD_TOKENS,
    request_seed,
    response_format,
    unwrap,
    without_keywords,
)

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class HTTPBackendError(RuntimeError):
    """A request the endpoint refused, or one that still failed after every retry."""


class HTTPBackend:
    """Chat completions from an OpenAI-compatible server.

    base_url: the server root, with or without `/v1`; model_name: the model the server serves (sent
    with every request, and the id captions record); api_key: sent as a bearer token if set.
    structured_output: ask for JSON following CAPTION_SCHEMA (`response_format`) and unwrap it, less
    the schema keywords in refused_schema_keywords (for a server whose decoder refuses them).
    """


    @staticmethod
    def model_id_for(model_name: str = "", **_) -> str:
        if not model_name:
            raise ValueError("the http caption backend needs model_name (the model the endpoint serves)")
        return model_name

    def __init__(
        self, base_url: str, *, model_name: str, api_key: str = "", max_concurrency: int = 8, max_retries: int = 5,
        timeout_s: float = 120.0, backoff_s: float = 0.5, max_backoff_s: float = 30.0, structured_output: bool = False,
        refused_schema_keywords: list[str] | None = None,
    ):
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.model_id = self.model_id_for(model_name)
        root = base_url.rstrip("/")
        self.url = (root if root.endswith("/v1") else root + "/v1") + "/chat/completions"
        self.api_key = api_key
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.structured_output = structured_output
        self.schema = without_keywords(CAPTION_SCHEMA, refused_schema_keywords or ())
        self.tokens_generated = 0
        self.retries = 0  # retried requests so far, for stats
        self._lock = threading.Lock()
        self._rng = random.Random(0)

    def request_body(self, conversation: list[dict], *, max_new_tokens: int, temperature: float, top_p: float,
                     seed: int) -> dict:
        """The JSON body of one chat completion request."""
        body = {"model": self.model_id, "messages": conversation, "max_tokens": max_new_tokens,
                "temperature": temperature, "top_p": top_p, "seed": seed, "n": 1, "stream": False}
        if conversation[-1]["role"] == "assistant":  # continue the prefilled answer (a vLLM extension)
            body.update(add_generation_prompt=False, continue_final_message=True)
        if self.structured_output:
            body["response_format"] = response_format(self.schema)
            body["max_tokens"] = max_new_tokens + JSON_OVERHEAD_TOKENS
        return body

    def generate(
        self, conversations: list[list[dict]], *, max_new_tokens: int = 48, temperature: float = 0.7,
        top_p: float = 0.9, seed: int = 0, on_done: Callable[[int], None] | None = None,
    ) -> list[str]:
        bodies = [self.request_body(c, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                    seed=request_seed(seed, i)) for i, c in enumerate(conversations)]
        with ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="caption-http") as pool:
            futures = [pool.submit(self._complete, body) for body in bodies]
            try:
                for f in as_completed(futures):
                    f.result()  # the first failure stops the call
                    if on_done is not None:
                        on_done(1)
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def _complete(self, body: dict) -> str:
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return self._parse(json.loads(response.read()))
            except urllib.error.HTTPError as e:
                detail = e.read()[:500].decode(errors="replace")
                if e.code not in RETRY_STATUS or attempt == self.max_retries:
                    raise HTTPBackendError(
                        f"{self.url} answered {e.code} after {attempt + 1} attempt(s): {detail}") from e
                wait = self._backoff(attempt, e.headers.get("Retry-After"))
                reason = f"HTTP {e.code}"
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as e:
                if attempt == self.max_retries:
                    raise HTTPBackendError(f"{self.url} unreachable after {attempt + 1} attempt(s): {e}") from e
                wait = self._backoff(attempt, None)
                reason = repr(e)
            with self._lock:
                self.retries += 1
            log.info("retrying %s in %.2fs (%s)", self.url, wait, reason)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _parse(self, reply: dict) -> str:
        try:
            text = reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as e:
            raise HTTPBackendError(f"{self.url} returned no completion: {str(reply)[:300]}") from e
        tokens = (reply.get("usage") or {}).get("completion_tokens")
        with self._lock:
            self.tokens_generated += int(tokens) if tokens is not None else len(text.split())
        text = text.strip()
        return unwrap(text) if self.structured_output else text

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(self.max_backoff_s, max(0.0, float(retry_after)))
            except ValueError:
                pass  # an HTTP date; fall back to the exponential schedule
        with self._lock:
            jitter = 0.5 + self._rng.random() / 2
        return min(self.max_backoff_s, self.backoff_s * 2**attempt) * jitter
