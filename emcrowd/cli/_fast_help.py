"""A faster ``--help``: Typer's help renderer imported without the modules it never needs here."""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def _deferred_class(module: str, name: str) -> type:
    """A stand-in for class ``module.name`` whose module is not imported yet: a class (so it can sit in
    type annotations) whose instantiation, or any public attribute, imports the real class and hands
    over to it."""

    class Deferred(type):
        def _real(cls) -> Any:
            return getattr(importlib.import_module(module), name)

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            return cls._real()(*args, **kwargs)

        def __getattr__(cls, attr: str) -> Any:
            if attr.startswith("__"):  # typing and inspect probe dunders: not the real class's business
                raise AttributeError(attr)
            return getattr(cls._real(), attr)

    return Deferred(name, (), {})


#: Modules that Typer's help renderer imports for features emcrowd does not use: Markdown help text
#: (emcrowd's uses Rich markup) and pretty tracebacks (disabled). With markdown-it and Pygments
#: behind them, they are about 70 ms of a 0.25 s ``emcrowd --help``.
_UNUSED_BY_HELP = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


def _help_renderer_without_markdown() -> None:
    """Import Typer's help renderer (``typer.rich_utils``) without :data:`_UNUSED_BY_HELP`.

    While it is imported, each of those modules is a stand-in holding a :func:`_deferred_class`;
    right after, the stand-ins are gone, so any later import gets the real module, and Typer's
    references import the real classes if they are ever used.
    """
    if "typer.rich_utils" in sys.modules or any(name in sys.modules for name in _UNUSED_BY_HELP):
        return
    stand_ins = {}
    for module, name in _UNUSED_BY_HELP.items():
        stand_ins[module] = types.ModuleType(module)
        setattr(stand_ins[module], name, _deferred_class(module, name))
    sys.modules.update(stand_ins)
    try:
        import typer.rich_utils  # noqa: F401
    except ImportError:  # a Typer or Rich that needs more of these modules: Typer imports it normally
        sys.modules.pop("typer.rich_utils", None)
    finally:
        for module, stand_in in stand_ins.items():
            if sys.modules.get(module) is stand_in:
                del sys.modules[module]
