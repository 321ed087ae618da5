"""The ``emcrowd`` command line: thin Typer commands over the library.

Each command parses its options, calls the library, writes files through :mod:`emcrowd.io` and hands
results to :mod:`emcrowd.console` (stderr). Only machine-readable output (``--json``, ``--out -``) goes
to stdout. Heavy modules (NumPy, the models) are imported inside the commands so that ``--help`` is
fast: a command module imports only Typer, the standard library and :mod:`emcrowd.cli.options` at
import time.

User errors (:class:`emcrowd.errors.EmcrowdError`) end with one line on stderr and exit status 2;
anything else is an internal error, exit status 1, with the traceback only under ``--debug``.

May import anything in emcrowd (it is the top layer); nothing but ``emcrowd.__main__`` imports it.

Layout
------
``options``     the option groups shared by several commands (:class:`~emcrowd.cli.options.InputOptions`,
                :class:`~emcrowd.cli.options.ModelOptions`, :class:`~emcrowd.cli.options.OutputOptions`),
                each a frozen dataclass declared once, and the shared argument ``LABELS``.
``_groups``     :func:`~emcrowd.cli.options.option_groups`, which turns a parameter
                ``inputs: InputOptions`` into the group's options for Typer and hands the command the
                built dataclass.
``_model_group`` the model group, its help panels and bounds (re-exported by ``options``).
``choices``     the ``StrEnum`` choices of the options, ``--method``'s choice, range checks.
``_model_args`` the model options checked and turned into the models' keyword arguments.
``_reading``    reading the labels, truth and gold with the input options.
``_output``     output tables as files, CSV on stdout, peak memory.
``_fast_help``  a faster ``--help`` (Typer's renderer without Markdown and tracebacks).
``fit``, ``compare``, ``info``, ``simulate``, ``convert``: one module per command, each defining the
                function of that name.

How to add an option
--------------------
* to every command that reads labels (or fits models, or reports): add one field to the group's
  dataclass in :mod:`emcrowd.cli.options` -- ``name: Annotated[type, typer.Option("--name", help=...,
  rich_help_panel=...)] = default`` -- and read it as ``inputs.name`` (``model.name``, ``output.name``)
  where it is used. Nothing else: every command declaring the group gets it.
* a new group shared by several commands: a new frozen dataclass in ``options``, and a keyword-only
  parameter of that type in each command.
* to one command only: an ``Annotated`` keyword-only parameter of that command's function.

How to add a command
--------------------
Write ``emcrowd/cli/<name>.py`` defining a function ``<name>`` (decorated with
:func:`~emcrowd.cli.options.option_groups` if it takes a group; the first line of its docstring is
the one-sentence summary in ``emcrowd --help``, details after a blank line) and ``EXAMPLES``, a tuple
of command lines shown under its help, and add ``"<name>"`` to :data:`COMMANDS` below. Registration wraps it
with the user-error handling; ``-`` in a command's name comes from ``_`` in the function's.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from emcrowd._version import __version__
from emcrowd.cli._fast_help import _UNUSED_BY_HELP, _help_renderer_without_markdown
from emcrowd.errors import EmcrowdError

__all__ = ["COMMANDS", "EXIT_INTERNAL_ERROR", "EXIT_USER_ERROR", "app", "main", "run"]
_ = (_UNUSED_BY_HELP, _help_renderer_without_markdown)  # re-exported: tests patch and call them here

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1

#: The commands, in the order ``emcrowd --help`` lists them; each is ``emcrowd.cli.<name>.<name>``.
COMMANDS = (
    "fit",
    "update",
    "stream",
    "compare",
    "info",
    "relabel",
    "report",
    "simulate",
    "convert",
    "partition",
)

app = typer.Typer(
    name="emcrowd",
    help="Aggregate crowdsourced labels with GLAD (EM) and compare it with majority vote.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])
_state = {"debug": False}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"emcrowd {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks for errors (for bug reports).")
    ] = False,
) -> None:
    """Aggregate crowdsourced labels with GLAD (EM) and compare it with majority vote."""
    _state["debug"] = debug


def user_errors(func: F) -> F:
    """Turn user errors into one line and exit 2, and internal errors into a short message and exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from emcrowd import console as report

        try:
            return func(*args, **kwargs)
        except EmcrowdError as exc:
            if _state["debug"]:
                raise
            report.error(str(exc))
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt as exc:
            from emcrowd._signals import describe

            what, status = describe(exc)
            report.error(f"{what}; no output was written")
            raise typer.Exit(status) from None
        except typer.Exit:
            raise
        except Exception as exc:
            from emcrowd._stdout import ReaderGone

            if isinstance(exc, ReaderGone):  # (| head, | true): quietly, status 0
                raise typer.Exit(0) from None
            if _state["debug"]:
                raise
            report.error(f"internal error ({type(exc).__name__}: {exc}); rerun with --debug and report it")
            raise typer.Exit(EXIT_INTERNAL_ERROR) from None

    return wrapper  # type: ignore[return-value]


#: What LABELS may be, under every command's help (Typer 0.20 with Click 8.5 drops an argument's help).
LABELS_HELP = (
    "LABELS: an items x annotators matrix (.npy, NaN = no label; .csv/.tsv); one row per label (item, "
    "worker, label) in .csv/.tsv (also .gz, .bz2, .zst), Parquet (a file or a directory), JSON Lines or "
    "JSON; a platform's export (Toloka, Mechanical Turk, Label Studio, crowd-kit, GAL: see --preset); "
    ".npz code arrays (see convert); '-' reads CSV from standard input."
)


def _epilog(module: Any) -> str:
    """A command's help after its options: what LABELS may be (when it reads labels) and examples."""
    parts = (
        [LABELS_HELP]
        if "labels" in inspect.signature(getattr(module, module.__name__.split(".")[-1])).parameters
        else []
    )
    parts.append("Examples:")
    parts += [f"  {example}" for example in module.EXAMPLES]
    return "\n\n".join(parts)


def _register() -> None:
    for name in COMMANDS:
        module = importlib.import_module(f"emcrowd.cli.{name}")
        command = getattr(module, name)
        app.command(name.replace("_", "-"), epilog=_epilog(module))(user_errors(command))


_register()


def run() -> None:
    """Console-script entry point: like ``app()``, but a usage error (a bad option value, a missing
    argument) is one line on stderr and exit status 2 too, like every other user error; and the
    process ends without tearing the interpreter down (see :func:`_exit`)."""
    try:
        _run()
    except SystemExit as exc:
        _exit(exc.code)
    _exit(0)


def _exit(code: Any) -> None:
    """End the process with ``code`` as ``sys.exit`` would, once the outputs are in place and the
    streams flushed, but without the interpreter's teardown: freeing millions of ids and arrays one
    by one took 0.35 s after a fit of 10M labels, a tenth of everything that is not the fit. A Dask
    run (whose cluster's atexit hooks must run) and an unflushable stream take the usual way out."""
    if "distributed" in sys.modules:
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): the message on stderr, status 1
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            sys.exit(code)  # Python's own exit reports (or ignores) it as before
    os._exit(status)


def _run() -> None:
    import click

    from emcrowd import _signals

    _signals.install()  # SIGTERM and SIGHUP end a run as Ctrl-C does
    if len(sys.argv) < 2 or any(arg in ("--help", "-h") for arg in sys.argv[1:]):
        _help_renderer_without_markdown()
    from emcrowd import _stdout

    _stdout.install()
    try:
        status = app(standalone_mode=False)
        if status not in (None, 0):
            _stdout.quiet_exit()  # an error was reported: what stdout still buffers is dropped
        else:
            _stdout.write("", flush=True)  # a failed write of the help or of --json is found here
    except _stdout.ReaderGone:
        sys.exit(0)
    except SystemExit as exc:  # click and rich end a broken pipe with status 1
        piped = isinstance(exc.__context__, BrokenPipeError)
        if exc.code == 1 and (piped or type(sys.stdout).__name__ == "PacifyFlushWrapper"):
            _stdout.quiet_exit()
            sys.exit(0)
        raise
    except BrokenPipeError:
        _stdout.quiet_exit()
        sys.exit(0)
    except OSError as exc:
        from emcrowd import console as report

        report.error(str(_stdout.error_for(exc)))
        sys.exit(EXIT_USER_ERROR)
    except EmcrowdError as exc:
        from emcrowd import console as report

        report.error(str(exc))
        sys.exit(EXIT_USER_ERROR)
    except click.UsageError as exc:
        from emcrowd import console as report

        message = exc.format_message().strip()
        if message:  # (no message: the help was asked for by giving no arguments, and is shown)
            command = exc.ctx.command_path if exc.ctx is not None else "emcrowd"
            report.error(f"{message} (see '{command} --help')")
        sys.exit(EXIT_USER_ERROR)
    except click.Abort as exc:
        from emcrowd import console as report
        from emcrowd._signals import describe

        what, status = describe(exc.__cause__ or exc)
        report.error(f"{what}; no output was written")
        sys.exit(status)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(status if isinstance(status, int) else 0)
