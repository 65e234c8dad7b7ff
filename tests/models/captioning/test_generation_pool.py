"""The caption model in two processes (generation_pool.py), with the real SmolLM2 in each."""

import os
import signal

import pytest
import torch

from assets.captions.prompts import build_conversation
from assets.sources.catalog import ClassInfo
from models.captioning.generation_pool import (
    RANK_SEED_STRIDE,
    GenerationPoolError,
    split,
)
from models.captioning.transformers_backend import (
    CONVERTED_MODELS_ENV,
    TransformersBackend,
)

CLASSES = (ClassInfo("normal", "A chest radiograph with clear lungs and a normal-sized heart.", ("clear lungs",)),
           ClassInfo("pneumonia", "A chest radiograph with a patchy airspace opacity in one lung.", ("consolidation",)),
           ClassInfo("cardiomegaly", "A chest radiograph with an enlarged heart.", ("enlarged heart",)))
CONVERSATIONS = [build_conversation("xray", c, i, CLASSES) for c in CLASSES for i in range(3)]
SAMPLING = {"max_new_tokens": 24, "temperature": 0.7, "top_p": 0.9}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The GGUF converted once for every pool of this module, by the pool's processes: setup's copy
    (`install_converted`) is hidden from them, so they convert as on an environment without one."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CONVERTED_MODELS_ENV, str(tmp_path_factory.mktemp("not-installed")))
        yield tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def pool(smollm2, models):  # smollm2 (conftest.py): the same model in this process
    backend = TransformersBackend(processes=2, batch_size=16, num_threads=torch.get_num_threads(), cache_dir=models)
    yield backend
    backend.close()


def test_split_keeps_order_in_blocks_that_differ_by_one_at_most():
    assert split(list(range(7)), 2) == [[0, 1, 2, 3], [4, 5, 6]]
    assert split([1], 3) == [[1], [], []]
    assert [x for block in split(list(range(10)), 4) for x in block] == list(range(10))


def test_each_process_writes_its_block_as_one_process_would_with_its_seed(pool, smollm2):
    done = []
    out = pool.generate(CONVERSATIONS, seed=5, on_done=done.append, **SAMPLING)
    assert len(out) == len(CONVERSATIONS) and all(isinstance(t, str) and t for t in out)
    assert sum(done) == len(CONVERSATIONS) and pool.tokens_generated > len(CONVERSATIONS)
    assert pool.generate(CONVERSATIONS, seed=5, **SAMPLING) == out  # seeded: the same again
    # Block r (5 then 4 conversations) is what this process's model writes for it with seed 5 + r * stride.
    first, second = split(CONVERSATIONS, 2)
    assert smollm2.generate(first, seed=5, **SAMPLING) == out[:5]
    assert smollm2.generate(second, seed=5 + RANK_SEED_STRIDE, **SAMPLING) == out[5:]
    assert pool.model_id == smollm2.model_id and not hasattr(pool, "model")  # no model in this process


def test_the_processes_convert_the_gguf_once_into_the_cache(pool, models):
    # Both processes converted it side by side (the cache was empty); one copy is kept, no partial one.
    kept = list(models.iterdir())
    assert len(kept) == 1 and (kept[0] / "config.json").is_file() and ".tmp" not in kept[0].name


def test_a_process_that_dies_fails_the_request_and_stops_the_other(models):
    backend = TransformersBackend(processes=2, batch_size=4, num_threads=1, cache_dir=models)
    workers = backend._pool._workers

    def kill_one(_n):
        if workers[1].is_alive():
            os.kill(workers[1].pid, signal.SIGKILL)

    with pytest.raises(GenerationPoolError, match="caption-generation-1 exited with code -9"):
        backend.generate(CONVERSATIONS * 2, seed=0, on_done=kill_one, **SAMPLING)
    assert not any(w.is_alive() for w in workers)


def test_a_model_that_cannot_load_is_an_error_with_the_reason(tmp_path):
    with pytest.raises(GenerationPoolError, match="caption-generation-.: .*missing.gguf"):
        TransformersBackend(tmp_path / "missing.gguf", processes=2)


def test_close_stops_every_process(models):
    backend = TransformersBackend(processes=2, batch_size=4, num_threads=1, cache_dir=models)
    workers = backend._pool._workers
    assert all(w.is_alive() for w in workers)
    backend.close()
    assert not any(w.is_alive() for w in workers)


def test_a_daemonic_process_writes_the_shares_itself_with_the_pools_captions(monkeypatch, pool, models):
    """Celery's prefork workers run steps in daemonic processes, which may not start processes: the two
    shares run one after another in the step's own process, and the captions are the pool's."""
    from multiprocessing import current_process

    expected = pool.generate(CONVERSATIONS, seed=7, **SAMPLING)
    monkeypatch.setitem(current_process()._config, "daemon", True)
    backend = TransformersBackend(processes=2, batch_size=16, num_threads=torch.get_num_threads(), cache_dir=models)
    assert backend._pool is None and len(backend.samplers) == 2
    done = []
    assert backend.generate(CONVERSATIONS, seed=7, on_done=done.append, **SAMPLING) == expected
    assert sum(done) == len(CONVERSATIONS)


def test_the_processes_exit_when_their_caller_is_killed(models):
    """A caller killed with SIGKILL cannot stop its processes: they notice it is gone and exit, rather than
    wait for work forever, each holding a copy of the model."""
    import subprocess
    import sys
    import time

    script = ("import sys; from models.captioning.transformers_backend import TransformersBackend as T; "
              f"b = T(processes=2, num_threads=1, cache_dir={str(models)!r}); "
              "print(*[w.pid for w in b._pool._workers], flush=True); sys.stdin.read()")
    caller = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in caller.stdout.readline().split()]
    assert len(pids) == 2
    caller.kill()
    caller.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
