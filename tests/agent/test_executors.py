"""Local worker processes of `agent bench` (agent.bench.executors): Ctrl-C and shutdown."""

import os
import signal
from multiprocessing.connection import wait

import pytest

from agent.bench.executors import ProcessExecutor


def test_workers_ignore_ctrl_c_and_an_interrupted_shutdown_stops_them():
    executor = ProcessExecutor(1)
    try:
        future = executor.submit(None, None, None)  # not a unit: it fails in the worker, which starts all the same
        with pytest.raises(Exception):
            future.result(timeout=300)
        (worker,) = executor.pool._processes.values()
        os.kill(worker.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends the whole process group
        # The sentinel is ready once the process has ended (is_alive() can race the pool's own reaping).
        assert wait([worker.sentinel], timeout=3) == []  # the bench process handles it, not each worker
    finally:
        executor.shutdown(now=True)
    assert wait([worker.sentinel], timeout=60) == [worker.sentinel]
