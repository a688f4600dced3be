"""Where log records and library noise go, so a normal run's terminal shows only our own output.

- Our loggers (agent, envs, policies) at WARNING and above go to stderr, as they always did:
  they say things the user must see (an unisolated sandbox, a truncated results file).
- Everything else (Python warnings such as FutureWarning, transformers' and other libraries'
  log records) goes to the run folder's `agent.log` only; `--verbose` also shows it on stderr.
  Until the run folder is known, records wait in memory, then are written there.
- Third-party progress bars (tqdm, huggingface_hub's, transformers' `Loading weights`) are
  switched off through the environment unless --verbose; bench worker processes inherit it,
  and read the log file's path from it too (`configure_from_env` in each worker).

    configure(verbose)            # at start-up (agent.cli.main)
    to_file(out / LOG_FILE)       # once the run folder exists (solve, bench)
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

LOG_FILE = "agent.log"
OWN = ("agent", "envs", "policies", "__main__")
QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
LOG_ENV, VERBOSE_ENV = "EDIT_AGENT_LOG", "EDIT_AGENT_VERBOSE"  # for worker processes
BUFFERED = 2000  # records kept before the log file exists (the oldest are dropped beyond this)
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (tests swap it)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; sys.stderr wins
        pass


class _Buffer(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        del self.records[:-BUFFERED]


def is_own(record: logging.LogRecord) -> bool:
    return record.name.split(".")[0] in OWN


def configure(verbose: int = 0) -> None:
    """Install the handlers on the root logger (replacing ours from an earlier call)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_edit_agent", False)]:
        root.removeHandler(handler)
        handler.close()
    if verbose:
        os.environ[VERBOSE_ENV] = str(verbose)
    else:
        os.environ.pop(VERBOSE_ENV, None)
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
        _quiet_loaded_libraries()
    stderr = _Stderr()
    stderr.setLevel({0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG))
    stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if not verbose:
        stderr.addFilter(is_own)
    route_libraries(load=False)  # a library loaded already (tests, a second call) is routed now
    for handler in (stderr, _Buffer()):
        handler._edit_agent = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    logging.captureWarnings(False)  # (re)install the hook: someone may have replaced it since an earlier call
    logging.captureWarnings(True)  # warnings.warn -> the "py.warnings" logger -> the handlers above


def to_file(path: Path) -> None:
    """Send every record to `path` (appended), starting with those buffered so far; workers
    started after this call (they inherit the environment) append to the same file."""
    root = logging.getLogger()
    os.environ[LOG_ENV] = str(path)
    for old in [h for h in root.handlers if isinstance(h, logging.FileHandler) and getattr(h, "_edit_agent", False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")  # made now: every run folder has one
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(logging.DEBUG)
    handler._edit_agent = True  # type: ignore[attr-defined]
    for buffer in [h for h in root.handlers if isinstance(h, _Buffer)]:
        for record in buffer.records:
            handler.handle(record)
        root.removeHandler(buffer)
    root.addHandler(handler)
    route_libraries()


def stop_file() -> None:
    """Close the log file (the command is done with its run folder)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler) and getattr(h, "_edit_agent", False)]:
        root.removeHandler(handler)
        handler.close()
    os.environ.pop(LOG_ENV, None)


@contextmanager
def shown(logger: str, show: Callable[[str], None], level: int = logging.INFO) -> Iterator[None]:
    """While the block runs, records of `logger` at `level` and above are also passed to `show`
    (their message text): what a slow step says about itself reaches the terminal, not only the
    log file (e.g. the loader converting a model once)."""
    handler = _Show(show, level)
    target = logging.getLogger(logger)
    target.addHandler(handler)
    try:
        yield
    finally:
        target.removeHandler(handler)


class _Show(logging.Handler):
    def __init__(self, show: Callable[[str], None], level: int) -> None:
        super().__init__(level)
        self.show = show

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING:  # warnings reach stderr already (configure)
            self.show(record.getMessage())


def configure_from_env() -> None:
    """In a worker process: the parent's settings, read from the environment it inherited."""
    configure(int(os.environ.get(VERBOSE_ENV, "0") or 0))
    if os.environ.get(LOG_ENV):
        to_file(Path(os.environ[LOG_ENV]))


def route_libraries(*, load: bool = True) -> None:
    """transformers logs through its own stderr handler; send its records to ours instead
    (`load`: import it first if it is not loaded yet)."""
    if "transformers" not in sys.modules:
        if not load:
            return
        try:
            import transformers.utils.logging  # noqa: F401  (its handler is made at import)
        except ImportError:
            return
    from transformers.utils import logging as hf_logging

    hf_logging.disable_default_handler()
    hf_logging.enable_propagation()
    _quiet_loaded_libraries()


def _quiet_loaded_libraries() -> None:
    """The environment switches are read at import; a library imported already is told directly."""
    if os.environ.get(VERBOSE_ENV):
        return
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
