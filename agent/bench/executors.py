"""Where bench units run: in this process, in local worker processes, or as Ray tasks.

Each executor has `submit(task, config, factories) -> concurrent.futures.Future` (of
`agent.bench.unit.run_unit` on those arguments), a `capacity` (units worth keeping in flight)
and `shutdown(now=False)` (now: after an interrupt, stop the running units too). The work
function and its arguments are the same for all three, and results are written by the parent
only, so the backend never changes a result.

    SerialExecutor    --workers 1: runs each unit when submitted (tests, debugging)
    ProcessExecutor   --workers N: a spawn-context ProcessPoolExecutor; every worker process
                      builds its own policy (one torch thread each by default) and sandbox
    RayExecutor       --ray ADDRESS | auto | local: `ray.init(address=...)` (local starts a
                      one-machine instance; a driver that already called ray.init keeps its
                      connection) and one Ray task per unit; `pip install .[ray]` on every node
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from agent.bench.unit import close_pieces, run_unit

ORPHAN_POLL_S = 2.0  # how often a worker checks that the bench process is still there


class SerialExecutor:
    capacity = 1

    def submit(self, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(run_unit(*args))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # handed to the caller like a pool's future would
            future.set_exception(exc)
        return future

    def shutdown(self, *, now: bool = False) -> None:
        close_pieces()


class ProcessExecutor:
    def __init__(self, workers: int) -> None:
        self.capacity = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_worker_start, initargs=(os.getpid(),))

    def submit(self, *args: Any) -> Future:
        return self.pool.submit(run_unit, *args)

    def shutdown(self, *, now: bool = False) -> None:
        """Cancel what has not started. now (after Ctrl-C): also stop the units running, since
        nothing they finish would be written; the workers ignore SIGINT, so this ends them."""
        workers = list((self.pool._processes or {}).values())  # private, but the pool's only handle on them
        self.pool.shutdown(wait=False, cancel_futures=True)
        if now:
            for process in workers:
                process.terminate()  # their sandboxes die with them (bwrap --die-with-parent)


def _worker_start(parent_pid: int) -> None:
    """In each worker: close the pieces at exit, and exit if the bench process dies (even by
    `kill -9`, which gives the pool no chance to stop its workers). Ctrl-C reaches the whole
    process group: the workers ignore it and the bench process stops them (`shutdown(now=True)`),
    so an interrupt prints one line, not a traceback per worker."""
    import signal
    from multiprocessing.util import Finalize

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    from agent.output.logs import configure_from_env

    configure_from_env()  # library noise to the run's agent.log, as in the parent
    Finalize(None, close_pieces, exitpriority=10)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(ORPHAN_POLL_S)
        os._exit(1)  # the parent is gone: no one will read our results

    threading.Thread(target=watch, daemon=True, name="orphan-watch").start()


class RayExecutor:
    def __init__(self, address: str, workers: int | None) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError("--ray needs Ray: pip install '.[ray]' (or pip install 'ray>=2.9')") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            ray.init(address=None if address == "local" else address, log_to_driver=False)
        self.remote = ray.remote(num_cpus=1)(run_unit)
        self.capacity = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))

    def submit(self, *args: Any) -> Future:
        return self.remote.remote(*args).future()

    def shutdown(self, *, now: bool = False) -> None:
        if self.started:
            self.ray.shutdown()


def make_executor(workers: int, ray_address: str | None):
    if ray_address:
        return RayExecutor(ray_address, workers)
    return SerialExecutor() if workers == 1 else ProcessExecutor(workers)
