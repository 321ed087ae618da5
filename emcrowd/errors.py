"""Exceptions and warnings that emcrowd raises on purpose.

``EmcrowdError`` and its subclasses are *user* errors: bad input files, bad option values, data that
cannot be aggregated. The command line turns them into a one-line message and exit status 2. Anything
else that escapes is an internal error (exit status 1).
"""

from __future__ import annotations

import os


class EmcrowdError(Exception):
    """A problem the user can fix (bad input, bad option); the CLI exits with status 2."""


class InputError(EmcrowdError):
    """A file that cannot be used, named in the message.

    Parameters
    ----------
    path : str or os.PathLike
        The offending file, as the user gave it.
    problem : str
        What is wrong with it, as a short phrase without a trailing full stop.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple:
        # pickled as (path, problem), not as the one-string args: a Dask worker's InputError reaches
        # the client as itself (naming the file), not as a failure to unpickle it
        return (type(self), (self.path, self.problem))


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the objective settled within ``tol``."""
