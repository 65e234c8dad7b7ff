"""One caption model in each of several processes, every request split between them.

A 135M-parameter model's matrices are too small for torch's threads to share one forward pass well (on
2 cores one thread generated faster than two), so a second core is used by a second process with its
own copy of the model (about 0.6 GB in float32) instead. `generate` splits the conversations into one
contiguous block per process, in the order given (a class's requests stay together, so its prompts
still share their prefix), and each process samples its block with a seed of its own (the request's
seed and its rank). The captions therefore depend on the number of processes, as on the seed, and on
nothing else: the same count gives the same captions whatever the machine's load. Where processes may not
be started (`may_start_processes`), TransformersBackend samples the same blocks with the same seeds one
after another in its own process, with the same result.

Processes are started by spawn (torch is not fork-safe once threads run), ignore SIGINT (the caller
takes Ctrl-C and stops them) and report their finished requests as they finish, for progress.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import weakref
from collections.abc import Callable
from itertools import pairwise
from multiprocessing import current_process, get_context

log = logging.getLogger(__name__)

RANK_SEED_STRIDE = 1_000_003  # the seed of block r: the request's seed + r * this
POLL_S = 1.0  # how often the caller looks whether its processes are still alive


def may_start_processes() -> bool:
    """Whether this process may start processes: a daemonic one (a Celery prefork worker's) may not."""
    return not current_process().daemon


class GenerationPoolError(RuntimeError):
    """A generation process failed or died."""


def _serve(rank: int, factory: Callable, options: dict, tasks, results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        backend = factory(**options)
    except Exception as e:  # noqa: BLE001 - reported, so the caller fails with the reason rather than waiting
        results.put(("error", rank, f"{type(e).__name__}: {e}"))
        return
    results.put(("ready", rank, (backend.model_id, backend.load_seconds)))
    caller = os.getppid()
    while (task := _next_task(tasks, caller)) is not None:
        conversations, kwargs = task
        try:
            before = backend.tokens_generated
            out = backend.generate(conversations, on_done=lambda n: results.put(("done", rank, n)), **kwargs)
            results.put(("result", rank, (out, backend.tokens_generated - before)))
        except Exception as e:  # noqa: BLE001 - reported to the caller, as above
            results.put(("error", rank, f"{type(e).__name__}: {e}"))


def _next_task(tasks, caller: int):
    """The next task, or None once the caller says stop or has died (killed with SIGKILL, it cannot say so,
    and this process would otherwise wait for work forever, holding its copy of the model)."""
    while True:
        try:
            return tasks.get(timeout=POLL_S)
        except queue.Empty:
            if os.getppid() != caller:
                return None


def shares(conversations: list, parts: int, seed: int) -> list[tuple[list, int]]:
    """The request as `parts` contiguous shares (see split), each with the seed it is sampled with: share r
    with `seed + r * RANK_SEED_STRIDE`. A pool's process r and TransformersBackend's own share r both use it."""
    return [(block, seed + r * RANK_SEED_STRIDE) for r, block in enumerate(split(conversations, parts))]


def split(items: list, parts: int) -> list[list]:
    """`items` in `parts` contiguous blocks whose sizes differ by at most one (the first ones larger)."""
    size, extra = divmod(len(items), parts)
    bounds = [0]
    for r in range(parts):
        bounds.append(bounds[-1] + size + (r < extra))
    return [items[a:b] for a, b in pairwise(bounds)]


class GenerationPool:
    """`processes` processes, each holding `factory(**options)` (a backend whose generate takes
    conversations, sampling settings, a seed and on_done, and counts tokens_generated)."""

    def __init__(self, factory: Callable, options: dict, processes: int):
        if processes < 2:
            raise ValueError(f"a pool needs at least 2 processes, not {processes}")
        ctx = get_context("spawn")
        self.processes = processes
        self._results = ctx.Queue()
        self._tasks = [ctx.Queue() for _ in range(processes)]
        self._workers = [ctx.Process(target=_serve, args=(r, factory, options, self._tasks[r], self._results),
                                     name=f"caption-generation-{r}", daemon=True) for r in range(processes)]
        for worker in self._workers:
            worker.start()
        self._finalizer = weakref.finalize(self, _stop, self._workers, self._tasks, self._results)
        try:
            ready = self._collect("ready")
        except BaseException:
            self.close(now=True)
            raise
        self.model_id = ready[0][0]
        self.load_seconds = max(seconds for _, seconds in ready)  # loaded side by side

    def generate(self, conversations: list, *, seed: int, on_done: Callable[[int], None] | None = None,
                 **kwargs) -> tuple[list[str], int]:
        """Completions in the order of `conversations`, and the tokens generated."""
        blocks = shares(conversations, self.processes, seed)
        busy = [r for r, (block, _) in enumerate(blocks) if block]
        for r in busy:
            block, block_seed = blocks[r]
            self._tasks[r].put((block, {**kwargs, "seed": block_seed}))
        try:
            results = self._collect("result", on_done, busy)
        except BaseException:  # an interrupt or a failed process: the others' work is dropped
            self.close(now=True)
            raise
        return [text for texts, _ in results for text in texts], sum(tokens for _, tokens in results)

    def _collect(self, kind: str, on_done: Callable[[int], None] | None = None, ranks: list[int] | None = None) -> list:
        """The `kind` message of every process in `ranks` (all by default), in rank order; `done`
        messages on the way go to on_done(n)."""
        ranks = list(range(self.processes)) if ranks is None else ranks
        got: dict[int, object] = {}
        while len(got) < len(ranks):
            try:
                what, rank, payload = self._results.get(timeout=POLL_S)
                if what == "error":
                    raise GenerationPoolError(f"caption-generation-{rank}: {payload}")
                if what == "done":
                    if on_done is not None:
                        on_done(payload)
                elif what == kind:
                    got[rank] = payload
            except queue.Empty:
                pass
            dead = [f"{w.name} exited with code {w.exitcode}" for r, w in enumerate(self._workers)
                    if r in ranks and r not in got and not w.is_alive()]
            if dead:
                raise GenerationPoolError("; ".join(dead))
        return [got[r] for r in ranks]

    def close(self, now: bool = False) -> None:
        """Stops the processes: after their current request, or at once (`now`)."""
        if now:
            for worker in self._workers:
                if worker.is_alive():
                    worker.terminate()
        self._finalizer()


def _stop(workers, tasks, results, timeout_s: float = 30.0) -> None:
    for worker, task in zip(workers, tasks):
        if worker.is_alive():
            task.put(None)
    for worker in workers:
        worker.join(timeout_s)
        if worker.is_alive():
            log.warning("%s did not stop within %.0f s: killed", worker.name, timeout_s)
            worker.kill()
            worker.join()
    for q in (*tasks, results):
        q.close()
