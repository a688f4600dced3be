"""Library noise goes to the run folder's agent.log, not the terminal; our own warnings and
--verbose still reach stderr (agent.output.logs)."""

import logging
import warnings

import pytest

from agent.cli import main
from agent.output import logs


@pytest.fixture
def clean_logging(monkeypatch):
    """Restore the root logger, warnings capture and the environment afterwards."""
    for key in (*logs.QUIET_ENV, logs.LOG_ENV, logs.VERBOSE_ENV):
        monkeypatch.delenv(key, raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    logs.stop_file()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def noise() -> None:
    warnings.warn("`past_key_values` is deprecated", FutureWarning, stacklevel=1)
    logging.getLogger("transformers.modeling_utils").warning("library says something")
    logging.getLogger("agent.cli.solve").warning("our own warning")


def test_library_noise_goes_to_the_log_file_only(tmp_path, capsys, clean_logging):
    logs.configure(verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        noise()  # before the run folder exists: kept, then written to the file
        logs.to_file(tmp_path / logs.LOG_FILE)
        logging.getLogger("some_library").warning("after the file is open")
    err = capsys.readouterr().err
    assert "our own warning" in err
    assert "deprecated" not in err and "library says" not in err and "after the file" not in err
    text = (tmp_path / logs.LOG_FILE).read_text()
    for needle in ("FutureWarning", "past_key_values", "library says something", "our own warning",
                   "after the file is open"):
        assert needle in text, needle
    assert logs.os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"  # bars off, for workers too


def test_verbose_shows_library_noise_on_stderr(capsys, clean_logging):
    logs.configure(verbose=1)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        noise()
    err = capsys.readouterr().err
    assert "deprecated" in err and "library says something" in err and "our own warning" in err


def test_version_prints_package_and_commit(capsys, clean_logging):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("edit-search-agent ")
    assert "commit " in out or "not a git checkout" in out
