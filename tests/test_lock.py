"""constraints.txt is what the tests run against: the installed dependency closure is the pinned one."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lock_module():
    spec = importlib.util.spec_from_file_location("lock", ROOT / "scripts" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_installed_dependencies_are_the_pinned_versions():
    # torch is the one exception: setup.sh installs the CPU wheel itself or keeps the user's build.
    assert _lock_module().differences(ROOT / "constraints.txt", skip=("torch",)) == []


def test_written_lock_pins_the_closure_and_reads_back(tmp_path):
    lock = _lock_module()
    target = tmp_path / "constraints.txt"
    lock.write(target)
    pins = lock.read(target)
    assert pins == lock.closure()
    assert {"torch", "transformers", "pylint", "astroid", "ray"} <= set(pins)  # the closure, extras included
    assert "edit-search-agent" not in pins and not list(tmp_path.glob("*.tmp"))


def test_check_names_a_version_that_differs(tmp_path):
    target = tmp_path / "constraints.txt"
    text = (ROOT / "constraints.txt").read_text()
    target.write_text(text.replace("\npylint==", "\npylint==0.0.1\n#"))
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "lock.py"), "check", str(target)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "pylint: installed" in result.stdout and "pinned 0.0.1" in result.stdout


def test_setup_installs_with_the_constraints():
    setup = (ROOT / "setup.sh").read_text()
    assert "-c \"$PINS\" -e" in setup and "constraints.txt" in setup
