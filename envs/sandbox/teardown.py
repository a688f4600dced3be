"""How one execution ends, inside the sandbox: wait for the child, kill what it left, empty scratch.

Loaded by the fork-server (`forkserver.py`, beside this file in the sandbox too), never by
the host; stdlib only. Nothing here reads what a program wrote: the scratch dir is listed
only by a forked cleaner, so even the names of a program's files never enter the server.
"""

import os
import select
import shutil
import signal
import time

CLEANER_TIMEOUT_S = 5.0


def pids():
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


def _my_children():
    """Pids whose parent is this server (orphans come here: we are a child subreaper)."""
    me, kids = os.getpid(), []
    for pid in pids():
        try:
            with open("/proc/%d/stat" % pid) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == me:
                    kids.append(pid)
        except (OSError, ValueError, IndexError):
            continue
    return kids


def _reap_all():
    """Reap exited children; True once this server has no children left at all."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            return False


def kill_descendants(child, private):
    """SIGKILL every descendant of this execution; returns a one-line account.

    Orphans are re-parented to this server (a child subreaper), so "no children left"
    means no descendant is left.
    """
    deadline = time.monotonic() + 2.0
    if not private:
        try:
            os.killpg(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    while True:
        if private:
            try:
                os.kill(-1, signal.SIGKILL)  # private namespace only: forkserver._prove_private_pidns
            except ProcessLookupError:
                pass
        if _reap_all():
            how = "kill(-1) in private pid namespace" if private else (
                "process group and re-parented orphans killed (pid namespace not private)")
            return how
        if time.monotonic() > deadline:
            return "cleanup incomplete: %d descendants survived" % len(_my_children())
        if not private:
            for pid in _my_children():
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        time.sleep(0.0005)


class Scratch:
    """The worker's scratch dir (its own tmpfs at /tmp under bwrap), emptied after each execution.

    It may hold the launcher's mount points (an interpreter installed under /tmp is bound
    there, on top of the tmpfs): what is in it at startup, before any program ran, is the
    skeleton, kept; everything else is removed by a forked cleaner under the child's uid.
    This server never lists the dir itself (file names are the program's data): it compares
    the stat of the skeleton's dirs with the last clean state and runs the cleaner when they
    differ. That check needs a filesystem whose dir size counts entries (tmpfs does; probed
    at startup); elsewhere the cleaner runs after every execution.
    """

    def __init__(self, path, become_child):
        self.path, self.become_child = path, become_child  # become_child: drop to the child's uid, or None
        self.skeleton, self.mounts = set(), set()
        self.trusted_stat = False
        self.clean_state = None
        if path:
            self.skeleton, self.mounts = self._walk()
            self.trusted_stat = self._dir_size_counts_entries()
            self.clean_state = self._state()

    def _walk(self):
        """(dirs, mount points) below the scratch dir, as relative paths; never into mounts."""
        dev, dirs, mounts, todo = os.stat(self.path).st_dev, set(), set(), [""]
        while todo:
            rel = todo.pop()
            for entry in os.scandir(os.path.join(self.path, rel)):
                sub = os.path.join(rel, entry.name)
                st = entry.stat(follow_symlinks=False)
                if st.st_dev != dev:
                    mounts.add(sub)
                elif entry.is_dir(follow_symlinks=False):
                    dirs.add(sub)
                    todo.append(sub)
                else:
                    dirs.add(sub)  # unexpected at startup, but launcher-made: keep it
        return dirs, mounts

    def _state(self):
        state = []
        for rel in sorted(self.skeleton | {""}):
            try:
                st = os.stat(os.path.join(self.path, rel), follow_symlinks=False)
            except OSError:
                return None
            state.append((st.st_ino, st.st_size, st.st_nlink, st.st_mtime_ns, st.st_ctime_ns))
        return state

    def _dir_size_counts_entries(self):
        probe = os.path.join(self.path, ".forkserver-probe")
        try:
            before = os.stat(self.path).st_size
            os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            grew = os.stat(self.path).st_size > before
            os.unlink(probe)
            return grew and os.stat(self.path).st_size == before
        except OSError:
            return False

    def clear(self):
        """Empty the scratch dir but for its skeleton; True if it is in its startup shape.

        The cleaner is forked so that a tree that makes it crash or hang (1,500 nested dirs
        overflow rmtree's recursion) costs a recycled worker, never this server or the verdict.
        """
        if not self.path or (self.trusted_stat and self.clean_state is not None and self._state() == self.clean_state):
            return True
        cleaner = os.fork()
        if cleaner == 0:
            code = 1
            try:
                if self.become_child is not None:
                    self.become_child()
                self._remove_all_but_skeleton("")
                code = 0 if self._walk() == (self.skeleton, self.mounts) else 1
            except BaseException:
                pass
            os._exit(code)
        deadline = time.monotonic() + CLEANER_TIMEOUT_S
        while True:
            pid, status = os.waitpid(cleaner, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(cleaner, signal.SIGKILL)
                os.waitpid(cleaner, 0)
                return False
            time.sleep(0.001)
        self.clean_state = self._state()
        return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and self.clean_state is not None

    def _remove_all_but_skeleton(self, rel):
        """(in the cleaner) Remove every entry below `rel` that is not skeleton or a mount point."""
        for entry in os.scandir(os.path.join(self.path, rel)):
            sub = os.path.join(rel, entry.name)
            if sub in self.mounts:
                continue
            if sub in self.skeleton and entry.is_dir(follow_symlinks=False):
                self._remove_all_but_skeleton(sub)
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    os.chmod(entry.path, 0o700)  # the child may have made it unreadable
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass


def wait_child(child, deadline):
    """(wait status, rusage, timed_out): wait for `child`, SIGKILLing it at `deadline`."""
    try:
        pidfd = os.pidfd_open(child)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            pid, status, usage = os.wait4(child, os.WNOHANG)
            if pid:
                return status, usage, False
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(child, signal.SIGKILL)
                _, status, usage = os.wait4(child, 0)
                return status, usage, True
            if pidfd is None:
                time.sleep(min(0.002, left))
            else:
                select.select([pidfd], [], [], left)  # readable once the child has exited
    finally:
        if pidfd is not None:
            os.close(pidfd)
