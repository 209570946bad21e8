"""Training time leaves out a SIGSTOP pause (timing.StepTimer): the steps' sum and the --minutes budget."""

import os
import signal

import pytest

from neural_core.train.timing import StepTimer
from neural_core.train.trainer import Trainer
from tests.core.test_train_loop import _config, data  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGCONT"), reason="POSIX job control signals")


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _steps(timer, clock, durations, continued_at=()):
    seconds = []
    for i, duration in enumerate(durations):
        timer.start()
        clock.now += duration
        if i in continued_at:
            os.kill(os.getpid(), signal.SIGCONT)  # what a process gets when a stop ends
        seconds.append(timer.stop())
    return seconds


def test_a_step_that_held_a_pause_counts_the_median_of_the_steps_before():
    clock = FakeClock()
    with StepTimer(clock) as timer:
        seconds = _steps(timer, clock, [1.0, 3.0, 2.0, 500.0, 2.5], continued_at={3})
    assert seconds == [1.0, 3.0, 2.0, 2.0, 2.5]
    assert timer.paused == 498.0


def test_without_the_handler_the_pause_is_counted():
    clock = FakeClock()
    timer = StepTimer(clock)  # not entered: SIGCONT keeps its default action
    assert _steps(timer, clock, [1.0, 500.0], continued_at={1}) == [1.0, 500.0]
    assert timer.paused == 0.0
    assert signal.getsignal(signal.SIGCONT) == signal.SIG_DFL


def test_a_short_step_or_a_first_step_keeps_its_own_time():
    clock = FakeClock()
    with StepTimer(clock) as timer:
        assert _steps(timer, clock, [7.0, 4.0, 0.5], continued_at={0, 2}) == [7.0, 4.0, 0.5]
    assert timer.paused == 0.0
    assert signal.getsignal(signal.SIGCONT) == signal.SIG_DFL  # the handler is put back


def test_a_paused_run_counts_neither_the_pause_in_its_time_nor_against_its_budget(data, tmp_path):  # noqa: F811
    trainer = Trainer(tmp_path / "run", data, _config(steps=6))
    clock = FakeClock()
    trainer.clock = clock
    step = trainer.train_step

    def timed_step():
        clock.now += 10.0  # every step takes 10 s ...
        if trainer.step == 2:
            clock.now += 1000.0  # ... and the third one held a pause of 1000 s
            os.kill(os.getpid(), signal.SIGCONT)
        return step()

    trainer.train_step = timed_step
    messages = []
    trainer.log = messages.append
    assert trainer.run(max_minutes=0.9) == 6  # after five steps 50 s of the 54 are spent (with the pause: 1,030 at step 3)
    assert not any("time limit" in m for m in messages)
    assert trainer.elapsed == 60.0
    assert trainer.info()["train_seconds"] == 60.0
