"""Opening files the user names (problems, programs) without ever blocking on them.

`open()` on a FIFO waits for a writer for ever, and a device or a directory is no problem
file either. `open_regular` opens without blocking, checks that the file is a regular file
and only then hands back an ordinary binary file object.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path


class NotARegularFile(OSError):
    """The path names a FIFO, socket, device or directory: not a file to read."""


def open_regular(path: str | Path) -> io.BufferedReader:
    """A binary reader for `path`; FileNotFoundError, NotARegularFile or another OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO opens at once this way
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
            raise NotARegularFile(f"{path} is {kind}; give a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
