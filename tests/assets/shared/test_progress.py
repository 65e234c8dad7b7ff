"""StepProgress: counts, a growing total, log lines at the cadence and at the end, rate and time left."""

from assets.shared.progress import StepProgress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_logs_at_its_cadence_with_rate_and_time_left():
    clock, lines = Clock(), []
    progress = StepProgress("ingest", total=10, unit="parts", log_line=lines.append, every_s=10, bar=False,
                            clock=clock)
    for _ in range(4):
        clock.now += 3
        progress.advance()
    # Only the advance 12 s in passed the 10 s cadence.
    assert lines == ["ingest: 4/10 parts (40%), 0.33 parts/s, about 18 s left"]
    assert progress.snapshot() == {"done": 4, "total": 10, "seconds": 12.0, "rate": 0.33, "seconds_left": 18}
    progress.add_total(5)
    progress.set_status("source big")
    clock.now += 108
    progress.advance(11)
    assert lines[-1] == "ingest: 15/15 parts (100%), 0.12 parts/s; source big"
    final = progress.close()
    assert lines[-1] == "ingest: 15/15 parts (100%), 0.12 parts/s; source big, in 2 min 0 s"
    assert final["done"] == final["total"] == 15


def test_nothing_to_do_logs_nothing():
    lines = []
    progress = StepProgress("class captions", log_line=lines.append, bar=False)
    assert progress.close()["done"] == 0 and lines == []


def test_draws_a_bar_when_asked(capsys):
    progress = StepProgress("class captions", unit="generations", log_line=lambda line: None, bar=True)
    progress.add_total(3)
    progress.advance(3)
    progress.close()
    err = capsys.readouterr().err
    assert "class captions" in err and "3/3" in err


def test_rate_counts_from_the_first_work_not_the_step_start():
    clock, lines = Clock(), []
    progress = StepProgress("class captions", unit="generations", log_line=lines.append, bar=False, clock=clock)
    clock.now = 100  # a model loads first
    progress.add_total(10)
    clock.now = 110
    progress.advance(5)
    assert lines == ["class captions: 0/10 generations (0%)",
                     "class captions: 5/10 generations (50%), 0.50 generations/s, about 10 s left"]
