"""The one writer for standard output: a reader that goes away (``| head``, ``| true``) ends the command
quietly with status 0; a full disk or a closed stdout is a user error (one line, exit status 2)."""

from __future__ import annotations

import errno
import os
import sys

from emcrowd.errors import EmcrowdError


class ReaderGone(Exception):
    """Standard output's reader went away: the command ends quietly (status 0)."""


class _Closed:
    """Stands in for a closed stdout (``>&-``), where Python sets ``sys.stdout`` to None."""

    encoding = "utf-8"

    def __init__(self) -> None:
        self.attempted = False  # whether anything was ever to be written (a swallowed failure too)

    def write(self, text: str) -> int:
        # a command that prints nothing on stdout succeeds with stdout closed: only text fails (and
        # the final empty write fails again when an earlier failure was swallowed on the way)
        if text or self.attempted:
            self.attempted = True
            raise OSError(errno.EBADF, "standard output is closed")
        return 0

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "standard output is closed")


def install() -> None:
    """Make a closed stdout an object whose writes fail (instead of None, which nothing expects)."""
    if sys.stdout is None:
        sys.stdout = _Closed()


def quiet_exit() -> None:
    """Point fd 1 at /dev/null, so that Python's own flush at exit does not complain again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def error_for(exc: OSError) -> EmcrowdError:
    """The user error for a failed write to stdout."""
    return EmcrowdError(f"cannot write to standard output ({exc.strerror or exc})")


def write(text: str, flush: bool = True) -> None:
    """Write ``text`` to stdout (flushed): :class:`ReaderGone` when the reader went away, else an
    :class:`EmcrowdError` for any other failure."""
    try:
        sys.stdout.write(text)
        if flush:
            sys.stdout.flush()
    except BrokenPipeError:
        quiet_exit()
        raise ReaderGone from None
    except OSError as exc:
        raise error_for(exc) from None
