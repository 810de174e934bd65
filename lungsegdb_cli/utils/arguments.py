"""The arguments of a public call, checked before it runs: the command line's option checks
for the Python API (:func:`lungsegdb_cli.api.common.boundary` around each operation,
:class:`~lungsegdb_cli.training.pairs.PairDataset` for its constructor).

* a call that does not fit the signature (a misspelt keyword, a positional argument too
  many): what Python raises as ``TypeError``, here the command line's unknown option;
* an argument annotated as a path (``PathLike``), text (``str``) or a flag (``bool``), with
  ``| None`` where None is allowed, given as another type: ``strict="false"`` is not taken
  for True (a flag is a ``bool``, a numpy bool, or a whole number 0 or 1), an
  ``os.PathLike`` whose ``__fspath__`` gives bytes is not a path;
* a NUL byte in any argument (no file name can hold one, nor any option's value);
* a ``progress`` without callable ``start``, ``advance`` and ``done``.

Each is a :class:`~lungsegdb_cli.errors.UsageError` (exit 2) naming the argument in
``context["argument"]``. Only the standard library and :mod:`lungsegdb_cli.errors`.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import os
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["PathLike", "argument_kinds", "check_arguments", "checked", "is_flag"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: A path argument: text, or any ``os.PathLike`` giving text.
PathLike = str | os.PathLike[str]


def checked(op: _F) -> _F:
    """``op`` with its arguments checked (:func:`check_arguments`) before it runs: for a
    public constructor (``PairDataset.__init__``); the operations get it from
    :func:`lungsegdb_cli.api.common.boundary`."""
    kinds = argument_kinds(op)

    @functools.wraps(op)
    def call(*args: Any, **kwargs: Any) -> Any:
        check_arguments(op, kinds, args, kwargs)
        return op(*args, **kwargs)

    return call  # type: ignore[return-value]


def check_arguments(
    op: Callable[..., Any],
    kinds: dict[str, tuple[str, bool]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Raise a UsageError for the first argument of ``op(*args, **kwargs)`` that is not
    acceptable (see the module doc); ``kinds`` is :func:`argument_kinds` of ``op``."""
    _check_call(op, args, kwargs)
    given = _given(op, args, kwargs)
    _refuse_nul(given)
    _check_kinds(kinds, given)


#: What an argument's annotation asks for, by its text (the package's modules use
#: ``from __future__ import annotations``): a path, text or a flag; None allowed with
#: ``| None``.
_KINDS = {"PathLike": "a path (str or os.PathLike)", "str": "a string", "bool": "True or False"}
_WANTED: dict[str, type | tuple[type, ...]] = {
    "PathLike": (str, os.PathLike),
    "str": str,
    "bool": bool,
}
#: what ``progress=`` must have (docs/api.md): each called positionally, every argument given
_PROGRESS = ("start", "advance", "done")


def _usage(message: str, hint: str, name: str) -> Exception:
    from lungsegdb_cli.errors import UsageError

    return UsageError(message, hint=hint, argument=name)


def _check_call(op: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A misspelt keyword or a positional argument too many: the ``TypeError`` Python would
    raise, as a UsageError (the command line's unknown option is exit 2 too)."""
    import inspect

    try:
        inspect.signature(op).bind(*args, **kwargs)
    except TypeError as exc:
        name = next((k for k in kwargs if k not in inspect.signature(op).parameters), "")
        shown = op.__qualname__.removesuffix(".__init__")  # PairDataset, not its __init__
        raise _usage(
            f"{shown}(): {exc}", f"See help(lungsegdb_cli.{shown}) for its arguments.", name
        ) from None


def argument_kinds(op: Callable[..., Any]) -> dict[str, tuple[str, bool]]:
    """``name -> (kind, None allowed)`` for each argument of ``op`` annotated as a path, text
    or a flag (see :data:`_KINDS`)."""
    import inspect

    try:
        params = inspect.signature(op).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - a builtin
        return {}
    out: dict[str, tuple[str, bool]] = {}
    for p in params:
        text = p.annotation if isinstance(p.annotation, str) else ""
        base, _, rest = text.partition(" | ")
        if base in _KINDS and rest in ("", "None"):
            out[p.name] = (base, rest == "None")
    return out


def _check_kinds(kinds: dict[str, tuple[str, bool]], given: list[tuple[str, Any]]) -> None:
    """A path or text argument of another type (``variant=1``, ``data_dir=123``) is a
    :class:`~lungsegdb_cli.errors.UsageError` naming it, not the ``AttributeError`` or
    ``TypeError`` it would raise further down."""
    for name, value in given:
        if name == "progress" and value is not None:
            missing = [m for m in _PROGRESS if not callable(getattr(value, m, None))]
            if missing:
                raise _usage(
                    f"progress must have start(), advance() and done(); "
                    f"{type(value).__name__} has no {missing[0]}()",
                    "Give an object with start(description, total, unit), advance(amount) "
                    "and done(), or None for no progress.",
                    name,
                )
        kind = kinds.get(name)
        if kind is None or (value is None and kind[1]):
            continue
        shown = type(value).__name__
        if kind[0] == "PathLike" and isinstance(value, os.PathLike):
            with contextlib.suppress(TypeError):
                value = os.fspath(value)  # its __fspath__ must give text, not bytes
            if not isinstance(value, str):
                shown += f" (whose __fspath__ gives {type(value).__name__})"
        if not isinstance(value, _WANTED[kind[0]]) and not (kind[0] == "bool" and is_flag(value)):
            raise _usage(
                f"{name} must be {_KINDS[kind[0]]}, not {shown}",
                f"Give {name} as {_KINDS[kind[0]]}.",
                name,
            )


def is_flag(value: Any) -> bool:
    """A flag: a ``bool``, ``numpy.True_``/``numpy.False_`` (read from an array or a config),
    or a whole number that is 0 or 1 (``1``, an ``IntEnum``, ``numpy.int64(0)``). Text
    (``"false"``), None and any other number are not.

    Examples
    --------
    >>> [is_flag(v) for v in (True, 0, 1, 2, "false", None, 1.0)]
    [True, True, True, False, False, False, False]
    """
    kind = type(value)
    if kind.__module__ == "numpy" and kind.__name__ in ("bool_", "bool"):
        return True
    if isinstance(value, (str, bytes, float)):
        return False
    try:
        return operator.index(value) in (0, 1)
    except TypeError:
        return False


def _given(
    op: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[tuple[str, Any]]:
    """Each argument of a call with its parameter's name (``#N`` past the named ones)."""
    code = getattr(op, "__code__", None)
    names = code.co_varnames[: code.co_argcount] if code is not None else ()
    given = [(names[i] if i < len(names) else f"#{i + 1}", a) for i, a in enumerate(args)]
    return [*given, *kwargs.items()]


def _refuse_nul(given: list[tuple[str, Any]]) -> None:
    for name, value in given:
        bad = _with_nul(value)
        if bad is not None:
            from lungsegdb_cli.errors import UsageError

            raise UsageError(
                f"The {name} argument holds a NUL byte: {bad!r}",
                hint="No file name can hold a NUL byte ('\\0'): pass it without.",
                argument=name,
            )


def _with_nul(value: Any) -> str | bytes | None:
    """``value`` (text, bytes, a path, or a list or tuple of them) if it holds a NUL byte."""
    if isinstance(value, (list, tuple)):
        for item in value:
            bad = _with_nul(item)
            if bad is not None:
                return bad
        return None
    if isinstance(value, os.PathLike):
        try:
            value = os.fspath(value)
        except TypeError:
            return None
    if isinstance(value, str):
        return value if "\0" in value else None
    if isinstance(value, bytes):
        return value if b"\0" in value else None
    return None
