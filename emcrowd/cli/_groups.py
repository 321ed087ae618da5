"""Option groups for Typer: a dataclass of ``Annotated`` fields expanded into a command's signature."""

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, get_type_hints

F = TypeVar("F", bound=Callable[..., Any])


def option_groups(func: F) -> F:
    """Expand each parameter of ``func`` whose type is an option group (a dataclass) into the group's
    fields, for Typer, and call ``func`` with the group built from them.

    Every parameter of the result is keyword-only (Typer passes them all by name). The expansion is in
    ``__signature__`` and ``__annotations__``, which Typer's ``get_params_from_function`` reads.
    """
    hints = get_type_hints(func, include_extras=True)
    groups: dict[str, type] = {}
    params: list[inspect.Parameter] = []
    for param in inspect.signature(func).parameters.values():
        hint = hints.get(param.name, param.annotation)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            groups[param.name] = hint
            field_hints = get_type_hints(hint, include_extras=True)
            for field in dataclasses.fields(hint):
                params.append(
                    inspect.Parameter(
                        field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default,
                        annotation=field_hints[field.name],
                    )
                )  # fmt: skip
        else:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hint))
    names = [p.name for p in params]
    clash = {n for n in names if names.count(n) > 1}
    if clash:
        raise TypeError(f"{func.__name__}: option names declared twice: {sorted(clash)}")
    fields = {name: [f.name for f in dataclasses.fields(cls)] for name, cls in groups.items()}

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        for name, cls in groups.items():
            kwargs[name] = cls(**{field: kwargs.pop(field) for field in fields[name]})
        return func(**kwargs)

    wrapper.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper  # type: ignore[return-value]
