"""SIGTERM and SIGHUP end a command as Ctrl-C does: :class:`Terminated` (a ``KeyboardInterrupt``) is
raised where the program is, so the same cleanup runs (temporary files removed, old outputs kept, a new
output directory removed) and the command exits with status 128 + the signal's number."""

from __future__ import annotations

import signal
from typing import Any


class Terminated(KeyboardInterrupt):
    """The run was ended by a signal; ``exit_status`` is 128 + its number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_status = 128 + signum
        super().__init__(signal.Signals(signum).name)


def _raise(signum: int, frame: Any) -> None:
    raise Terminated(signum)


def install() -> None:
    """Handle SIGTERM and SIGHUP (where the platform has them) by raising :class:`Terminated`."""
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _raise)


def describe(exc: BaseException) -> tuple[str, int]:
    """What ended the run, for the message, and the exit status: ``("interrupted", 130)`` for Ctrl-C,
    ``("terminated by SIGTERM", 143)`` for a signal."""
    if isinstance(exc, Terminated):
        return f"terminated by {signal.Signals(exc.signum).name}", exc.exit_status
    return "interrupted", 130
