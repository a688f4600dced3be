"""Where the sandbox can run: an interpreter anywhere (a venv under /tmp, an interpreter
installed under /tmp), and tests that fail, not skip, when bubblewrap is there but broken.

Each interpreter test builds its layout in a dir it makes under /tmp (removed afterwards)
and runs one sandboxed execution from that interpreter: one bwrap worker, one program.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

import sandboxes
from envs.sandbox import SandboxUnavailable
from envs.sandbox.launch import python_paths

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
PLANT = """
import os
for d in os.listdir('/tmp'):  # the dirs around a bound interpreter are not the program's
    try:
        open('/tmp/%s/mine' % d, 'w').write('x')
    except OSError:
        pass
open('/tmp/mine', 'w').write('x')
def f():
    return 41 + 1
"""
PROBE = """
import os
def left():  # /tmp, two levels deep
    top = sorted(os.listdir('/tmp'))
    return top + [d + '/' + e for d in top if os.path.isdir('/tmp/' + d) for e in sorted(os.listdir('/tmp/' + d))]
"""
RUN_ONE = """
import json, sys
from envs.sandbox import make_sandbox
from envs.testcase import TestCase
plant, probe, expected = json.loads(sys.argv[1])
box = make_sandbox('bwrap', workers=1)
try:
    first = box.run(plant, [TestCase('ran', 'f()', expected='42')])
    second = box.run(probe, [TestCase('left', 'left()', expected=expected)])
finally:
    box.close()
outcomes = first.outcomes + second.outcomes
print(json.dumps({'executable': sys.executable, 'prefix': sys.prefix,
                  'statuses': [o.status for o in outcomes], 'details': [o.detail for o in outcomes]}))
"""


@pytest.fixture
def under_tmp():
    sandboxes.require_tool("bwrap")
    path = Path(tempfile.mkdtemp(prefix="sandbox-interpreter-", dir="/tmp"))
    yield path
    shutil.rmtree(path)  # made just above by this fixture


def run_one_with(python: Path, tmp_after: list[str]) -> dict:
    """RUN_ONE under `python` (the project importable from the source tree), parsed; the second
    execution expects to see `tmp_after` in /tmp (the first one's file is gone)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(python), "-c", RUN_ONE, json.dumps([PLANT, PROBE, repr(tmp_after)])], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_a_venv_under_tmp_runs_sandboxed(under_tmp):
    venv = under_tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    result = run_one_with(venv / "bin" / "python", [])
    assert result["prefix"] == str(venv)  # the host side really ran from the venv
    # the mounted scratch /tmp hid the venv's interpreter before; only the user's file is gone
    assert result["statuses"] == ["pass", "pass"], result["details"]


def test_an_interpreter_installed_under_tmp_runs_sandboxed(under_tmp):
    """The interpreter binary itself under /tmp: it is bound on top of the scratch tmpfs, and
    what it links to (the standard library, libpython) is bound where it really is."""
    exe = Path(os.path.realpath(sys.executable))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    prefix = under_tmp / "python"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    shutil.copy2(exe, prefix / "bin" / exe.name)
    (prefix / "lib" / version).symlink_to(os.path.realpath(sysconfig.get_paths()["stdlib"]))
    for lib in glob.glob(os.path.join(sysconfig.get_config_var("LIBDIR") or "/nonexistent", "libpython*")):
        (prefix / "lib" / os.path.basename(lib)).symlink_to(lib)  # for a $ORIGIN-relative runpath
    python = prefix / "bin" / exe.name
    probe = subprocess.run([str(python), "-I", "-c", "import sys; print(sys.base_prefix)"], capture_output=True,
                           text=True, timeout=60)
    assert probe.returncode == 0 and probe.stdout.strip() == str(prefix), (probe.stdout, probe.stderr)
    # /tmp inside holds the bound interpreter's parent dir (read-only for the program), nothing else
    result = run_one_with(python, [under_tmp.name, f"{under_tmp.name}/python"])
    assert result["executable"] == str(python)
    assert result["statuses"] == ["pass", "pass"], result["details"]


def test_python_paths_name_the_base_interpreter_and_no_venv():
    exe, dirs = python_paths()
    assert os.path.realpath(exe) == exe and os.access(exe, os.X_OK)
    assert any(exe.startswith(d + os.sep) for d in dirs)
    if sys.prefix != sys.base_prefix:  # run from a venv: its directory is never bound
        assert not any(d == os.path.realpath(sys.prefix) for d in dirs)


def test_an_installed_but_broken_bwrap_fails_the_test(monkeypatch):
    monkeypatch.setattr(sandboxes, "tool_missing", lambda backend: "")

    def broken(*args, **kwargs):
        raise SandboxUnavailable("cannot create a user namespace (errno 1)")

    monkeypatch.setattr(sandboxes, "make_sandbox", broken)
    with pytest.raises(pytest.fail.Exception, match="installed but the sandbox does not start: cannot create"):
        sandboxes.make_or_skip("bwrap")


def test_an_absent_bwrap_skips(monkeypatch):
    monkeypatch.setattr(sandboxes, "tool_missing", lambda backend: "bubblewrap (bwrap) is not on PATH")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not on PATH"):
        sandboxes.make_or_skip("bwrap")


def test_no_chmod_inside_a_read_only_bind():
    """A Debian /usr/bin/python3 has base prefix /usr: bound read-only, so bwrap must not chmod
    /usr (it failed with 'Can't chmod 0755 /usr: Read-only file system' for every worker)."""
    from envs.sandbox.bwrap import _SYSTEM_LIB_DIRS, _ancestors

    assert _ancestors(["/usr", "/usr/lib", "/sandbox/forkserver.py"], ["/usr", *_SYSTEM_LIB_DIRS]) == ["/sandbox"]
    assert _ancestors(["/opt/py/bin", "/tmp/x/py"], ["/opt/py/bin", "/tmp/x/py"]) == ["/opt", "/opt/py", "/tmp/x"]
