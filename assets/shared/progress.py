"""How far along a long step is, for whoever watches it: a tqdm bar where stderr is a terminal,
and a log line at a steady cadence (and at the end) wherever the log goes: the Dagster UI's run
log when a step passes `context.log.info`, the `logging` module otherwise.

The work may grow while it runs (a caption round that retries what failed adds requests), so the
total can be raised; rate and time left are of what is known so far, timed from when the first
work was known (not from the step's start: a model may load first). A total of 0 is unknown (a
source read lazily): lines then say how much is done and how fast.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

from tqdm import tqdm

log = logging.getLogger(__name__)


class StepProgress:
    """`done` of `total` `unit`s of a step named `name`. `log_line` receives a line when the first
    work is known, at most every `every_s` seconds as work completes, and one when the step closes;
    `bar` (None: when stderr is a terminal) draws a tqdm bar from the first work on. `status` says
    what else is known (e.g. "round 2/3, 18/22 classes"). A step that had nothing to do closes
    without a line."""

    def __init__(self, name: str, total: int = 0, unit: str = "items", *, log_line: Callable[[str], None] = log.info,
                 every_s: float = 10.0, bar: bool | None = None, clock: Callable[[], float] = time.monotonic):
        self.name, self.unit, self.total, self.done, self.status = name, unit, total, 0, ""
        self._log, self._every, self._clock = log_line, every_s, clock
        self._started = self._logged = None  # when the first work was known
        self._lock = threading.Lock()  # a backend may report from its worker threads
        self._show = sys.stderr.isatty() if bar is None else bar
        self._bar = None
        if total:
            self._start()

    def _start(self) -> None:
        if self._started is None:
            self._started = self._logged = self._clock()
        if self._show and self._bar is None:
            unit = self.unit[:-1] if self.unit.endswith("s") else self.unit
            self._bar = tqdm(total=self.total or None, desc=self.name, unit=unit, dynamic_ncols=True, leave=True)

    def add_total(self, n: int) -> None:
        with self._lock:
            first = self.total == 0 and n > 0
            self.total += n
            self._start()
            if self._bar is not None:
                self._bar.total = self.total
                self._bar.refresh()
        if first:
            self._log(self.line())

    def set_status(self, status: str) -> None:
        with self._lock:
            self.status = status
            if self._bar is not None:
                self._bar.set_postfix_str(status)

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self._start()
            self.done += n
            if self._bar is not None:
                self._bar.update(n)
            now = self._clock()
            if now - self._logged >= self._every:
                self._logged = now
                self._log(self.line())

    def snapshot(self) -> dict:
        """done, total, seconds, rate (units/s) and seconds_left (None until a rate is known)."""
        seconds = self._clock() - self._started if self._started is not None else 0.0
        rate = self.done / seconds if seconds > 0 and self.done else None
        left = max(0, self.total - self.done) / rate if rate else None
        return {"done": self.done, "total": self.total, "seconds": round(seconds, 1),
                "rate": round(rate, 2) if rate else None, "seconds_left": round(left) if left is not None else None}

    def line(self) -> str:
        s = self.snapshot()
        share = f"/{s['total']} {self.unit} ({100 * s['done'] // s['total']}%)" if s["total"] else f" {self.unit}"
        rate = f", {s['rate']:.{1 if s['rate'] >= 1 else 2}f} {self.unit}/s" if s["rate"] else ""
        left = f", about {_duration(s['seconds_left'])} left" if s["seconds_left"] and s["done"] < s["total"] else ""
        status = f"; {self.status}" if self.status else ""
        return f"{self.name}: {s['done']}{share}{rate}{left}{status}"

    def close(self) -> dict:
        """Ends the bar, logs the final line and returns the final snapshot."""
        with self._lock:
            if self._bar is not None:
                self._bar.close()
            if self._started is not None:  # else there was nothing to do
                self._log(self.line() + f", in {_duration(self._clock() - self._started)}")
            return self.snapshot()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
