"""`python -m pipelines.run`: the whole pipeline from the command line, every run recorded in the
Dagster instance ($DAGSTER_HOME), as the web UI would launch it:

1. sources_job (catalog validated, one ingest partition per source, synthetic data drawn);
2. ingest_job once per source partition; a source that fails is reported and the others go on; a
   source whose location does not exist is ingested as empty and reported as missing, by name;
3. medpairs_job (captions, curation, shards, training, report) on the sources ingested (when at
   least one was found).

    python -m pipelines.run [-c pipelines/configs/small.yaml] [--only-sources a,b] [--ingest-only]

One run config file serves the three jobs: each job gets the `ops` entries of its own assets.
The terminal shows Dagster's log from INFO up: the steps' own lines (caption and ingest progress,
the trainer's output through Pipes) and failures; `--debug` adds Dagster's step events (starts,
outputs, materializations), as the UI shows them.
At the end it prints every step's seconds and what a step kept from an earlier run rather than
redo (pipelines/run_summary.py), and each missing source. Exits 1 if any run failed (after running
everything that could run) or if every source it tried was missing; some missing sources are no
failure (`python -m pipelines.check` is the strict test of a catalog before a run).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import socket
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import dagster as dg

from assets.sources.defs import source_partitions
from pipelines.run_summary import summary_lines
from pipelines.stale_runs import sweep_dead_runs

log = logging.getLogger(__name__)


@dataclass
class PipelineOutcome:
    sources_ok: bool = False
    ingested: list[str] = field(default_factory=list)  # the sources found and ingested
    failed_sources: dict[str, str] = field(default_factory=dict)
    # Sources whose location does not exist, ingested as empty: {source: why, and where to get it}.
    missing_sources: dict[str, str] = field(default_factory=dict)
    medpairs_ok: bool | None = None  # None: not run
    interrupted: bool = False  # Ctrl-C (SIGINT) or SIGTERM stopped a run: nothing after it ran
    # Every run's result, by job name ("ingest_job[<source>]" for an ingest partition).
    results: dict[str, dg.ExecuteInProcessResult] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        # Some sources missing is no failure; every source that was tried missing is (nothing was built).
        found = bool(self.ingested) or not self.missing_sources
        return (self.sources_ok and not self.failed_sources and found and self.medpairs_ok is not False
                and not self.interrupted)


class SignalWatch:
    """Whether SIGINT or SIGTERM reached the process, whichever handler took it: Dagster takes Ctrl-C
    during a run and drops one that lands after the run's last step, which would let the next job
    start. The signal module writes every signal's number to a wakeup socket; this reads it."""

    def __enter__(self) -> SignalWatch:
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._previous = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._seen = False
        return self

    def __call__(self) -> bool:
        try:
            while data := self._read.recv(512):
                self._seen |= bool({signal.SIGINT, signal.SIGTERM} & set(data))
        except BlockingIOError:
            pass
        return self._seen

    def __exit__(self, *_) -> None:
        signal.set_wakeup_fd(self._previous)
        self._read.close()
        self._write.close()


def job_run_config(job: dg.JobDefinition, run_config: dict) -> dict:
    """The part of a whole-pipeline run config that belongs to `job`'s assets."""
    # `ops` is keyed by op name: a multi-asset's (curation) is none of its assets' keys.
    names = {node.name for node in job.graph.nodes}
    ops = {name: cfg for name, cfg in (run_config.get("ops") or {}).items() if name in names}
    return {**{k: v for k, v in run_config.items() if k != "ops"}, **({"ops": ops} if ops else {})}


def _interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Whether the run stopped because the process was interrupted, not because a step failed."""
    return any(event.is_step_failure and event.step_failure_data and event.step_failure_data.error
               and "DagsterExecutionInterruptedError" in event.step_failure_data.error.cls_name
               for event in result.all_events)


def _failure(result: dg.ExecuteInProcessResult) -> str:
    """The first step failure's message, for the summary."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            return (error.cause.message if error.cause and "Failure" not in error.cls_name else error.message).strip()
    return "run failed"


def _missing_source(result: dg.ExecuteInProcessResult) -> str:
    """The `missing_source` note of an ingest run's materialization ("" when its source was found)."""
    for event in result.get_asset_materialization_events():
        note = event.materialization.metadata.get("missing_source")
        if note is not None:
            return note.value
    return ""


# How one run is executed: (job, its run config, partition key or None) -> its result.
JobRunner = Callable[[dg.JobDefinition, dict, "str | None"], "dg.ExecuteInProcessResult | dg.ExecuteJobResult"]


def in_process(instance: dg.DagsterInstance) -> JobRunner:
    """Every step of a run in this process (what `make demo` does)."""
    def run(job: dg.JobDefinition, run_config: dict, partition_key: str | None) -> dg.ExecuteInProcessResult:
        return job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False,
                                      **({"partition_key": partition_key} if partition_key else {}))
    return run


def run_pipeline(defs: dg.Definitions, instance: dg.DagsterInstance, run_config: dict | None = None,
                 only_sources: list[str] | None = None, ingest_only: bool = False,
                 stop_requested: Callable[[], bool] = lambda: False, run_job: JobRunner | None = None,
                 ingest_concurrency: int = 1) -> PipelineOutcome:
    """Run sources_job, ingest_job per source partition (all, or `only_sources`; `ingest_concurrency`
    partitions at once), then unless `ingest_only` medpairs_job, in `instance`, each run by `run_job`
    (default: in this process); stop after a run that was interrupted or after which `stop_requested()`
    says a stop was asked for."""
    run_config = run_config or {}
    outcome = PipelineOutcome()
    run_job = run_job or in_process(instance)

    def execute(job_name: str, partition_key: str | None = None):
        job = defs.resolve_job_def(job_name)
        result = run_job(job, job_run_config(job, run_config), partition_key)
        outcome.results[job_name + (f"[{partition_key}]" if partition_key else "")] = result
        if _interrupted(result) or stop_requested():
            outcome.interrupted = True
            log.warning("%s was interrupted: stopping here", job_name)
        return result

    sources = execute("sources_job")
    outcome.sources_ok = sources.success
    if outcome.interrupted or not sources.success:
        if not outcome.interrupted:
            log.error("sources_job failed: %s", _failure(sources))
        return outcome
    names = [n for n in instance.get_dynamic_partitions(source_partitions.name) if not only_sources or n in only_sources]

    def ingest(name: str):
        # After an interrupted run no other starts (a partition already under way finishes).
        return None if outcome.interrupted else execute("ingest_job", partition_key=name)

    if ingest_concurrency == 1:  # in this thread, where Ctrl-C reaches the run
        results = [ingest(name) for name in names]
    else:
        with ThreadPoolExecutor(ingest_concurrency) as pool:
            results = list(pool.map(ingest, names))
    if outcome.interrupted:
        return outcome
    for name, result in zip(names, results, strict=True):
        if result.success:
            missing = _missing_source(result)
            if missing:
                outcome.missing_sources[name] = missing
            else:
                outcome.ingested.append(name)
        else:
            outcome.failed_sources[name] = _failure(result)
            log.error("source %s failed, the others go on: %s", name, outcome.failed_sources[name])
    if outcome.ingested and not ingest_only:
        medpairs = execute("medpairs_job")
        outcome.medpairs_ok = medpairs.success
        if not medpairs.success:
            log.error("medpairs_job failed: %s", _failure(medpairs))
    return outcome


def main(argv: list[str] | None = None, definitions_module: str = "pipelines.definitions",
         runner: Callable[[dg.DagsterInstance], JobRunner] = in_process, ingest_concurrency: int = 1) -> int:
    """The command line over the Definitions `defs` of `definitions_module`, every run by `runner(instance)`
    (deploy/celery/run.py: on Celery workers)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", action="append", default=[], help="run config YAML (repeatable)")
    parser.add_argument("--only-sources", default="", help="comma-separated sources to ingest (default: all)")
    parser.add_argument("--ingest-only", action="store_true", help="stop after ingest (no medpairs_job)")
    parser.add_argument("--debug", action="store_true", help="print Dagster's DEBUG events too")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a new instance's schema set-up, line by line
    defs = importlib.import_module(definitions_module).defs  # after logging is set up: loading reads the environment

    run_config = dg.config_from_files(args.config) if args.config else {}
    run_config.setdefault("loggers", {"console": {"config": {"log_level": "DEBUG" if args.debug else "INFO"}}})
    only = [s for s in args.only_sources.split(",") if s] or None
    with dg.DagsterInstance.get() as instance, SignalWatch() as stop_requested:
        sweep_dead_runs(instance)  # a killed earlier run must not hold the gpu pool
        try:
            outcome = run_pipeline(defs, instance, run_config, only, ingest_only=args.ingest_only,
                                   stop_requested=stop_requested, run_job=runner(instance),
                                   ingest_concurrency=ingest_concurrency)
        except KeyboardInterrupt:  # between runs: nothing was under way
            print("interrupted between runs; run again to go on")
            return 130
    print("\n".join(["", "steps (seconds; what was kept rather than redone):", *summary_lines(outcome.results), ""]))
    print(f"sources_job: {'ok' if outcome.sources_ok else 'FAILED'}")
    print(f"ingested: {', '.join(outcome.ingested) or 'none'}")
    for name, reason in outcome.failed_sources.items():
        print(f"FAILED source {name}: {reason}")
    for name, note in outcome.missing_sources.items():
        print(f"MISSING source {name} (ingested as empty): {note}")
    not_run = "not run" + ("" if outcome.ingested or not outcome.missing_sources else " (no source found)")
    print(f"medpairs_job: {({None: not_run, True: 'ok', False: 'FAILED'})[outcome.medpairs_ok]}")
    if outcome.interrupted:
        print("interrupted: the interrupted run is marked failed in the instance; run again to go on")
        return 130
    return 0 if outcome.success else 1


if __name__ == "__main__":
    sys.exit(main())
