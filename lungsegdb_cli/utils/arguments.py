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
* a ``progress`` (annotated ``Progress``) without callable ``start``, ``advance`` and
  ``done``.

Each is a :class:`~lungsegdb_cli.errors.UsageError` (exit 2) naming the argument in
``context["argument"]``. Only the standard library and :mod:`lungsegdb_cli.errors`.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover - types only (inspect is imported where a check is made)
    import inspect

__all__ = [
    "ArgumentCheck",
    "PathLike",
    "argument_kinds",
    "checked",
    "is_flag",
    "is_path",
    "is_whole",
]

_F = TypeVar("_F", bound=Callable[..., Any])

#: A path argument: text, or any ``os.PathLike`` giving text.
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class ArgumentCheck:
    """The checks of one function's arguments (see the module doc), its signature read once;
    calling it with a call's ``args`` and ``kwargs`` raises the UsageError, if any."""

    shown: str
    signature: inspect.Signature
    kinds: dict[str, tuple[str, bool]]

    @classmethod
    def of(cls, op: Callable[..., Any]) -> ArgumentCheck:
        import inspect

        shown = op.__qualname__.removesuffix(".__init__")  # PairDataset, not its __init__
        return cls(shown, inspect.signature(op), argument_kinds(op))

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            given = list(self.signature.bind(*args, **kwargs).arguments.items())
        except TypeError as exc:  # a misspelt keyword, a positional too many: Python's
            name = next((k for k in kwargs if k not in self.signature.parameters), "")
            raise _usage(
                f"{self.shown}(): {exc}",
                f"See help(lungsegdb_cli.{self.shown}) for its arguments.",
                name,
            ) from None
        _refuse_nul(given)
        _check_kinds(self.kinds, given)


def checked(op: _F) -> _F:
    """``op`` with its arguments checked (:class:`ArgumentCheck`) before it runs: for a
    public constructor (``PairDataset.__init__``); the operations get it from
    :func:`lungsegdb_cli.api.common.boundary`."""
    check = ArgumentCheck.of(op)

    @functools.wraps(op)
    def call(*args: Any, **kwargs: Any) -> Any:
        check(args, kwargs)
        return op(*args, **kwargs)

    return call  # type: ignore[return-value]


def _usage(message: str, hint: str, name: str) -> Exception:
    from lungsegdb_cli.errors import UsageError

    return UsageError(message, hint=hint, argument=name)


def is_path(value: Any) -> bool:
    """Text, or an ``os.PathLike`` whose ``__fspath__`` gives text (not bytes)."""
    if isinstance(value, str):
        return True
    if not isinstance(value, os.PathLike):
        return False
    try:
        return isinstance(os.fspath(value), str)
    except TypeError:
        return False


def _numpy_bool(value: Any) -> bool:
    kind = type(value)
    return kind.__module__ == "numpy" and kind.__name__ in ("bool_", "bool")


def is_flag(value: Any) -> bool:
    """A flag: a ``bool``, ``numpy.True_``/``numpy.False_`` (read from an array or a config),
    or a whole number that is 0 or 1 (``1``, an ``IntEnum``, ``numpy.int64(0)``). Text
    (``"false"``), None and any other number are not.

    Examples
    --------
    >>> [is_flag(v) for v in (True, 0, 1, 2, "false", None, 1.0)]
    [True, True, True, False, False, False, False]
    """
    if isinstance(value, bool) or _numpy_bool(value):
        return True
    return is_whole(value, 0) and operator.index(value) <= 1


def is_whole(value: Any, least: int) -> bool:
    """A whole number (an ``int``, an ``IntEnum``, a ``numpy.int64``; text, floats and bools
    are not) that is at least ``least``.

    Examples
    --------
    >>> [is_whole(v, 1) for v in (1, 0, "3", 2.0, True)]
    [True, False, False, False, False]
    """
    if isinstance(value, (str, bytes, float, bool)) or _numpy_bool(value):
        return False
    try:
        return operator.index(value) >= least
    except TypeError:
        return False


def _is_progress(value: Any) -> bool:
    return all(callable(getattr(value, m, None)) for m in ("start", "advance", "done"))


#: What an argument's annotation asks for, by its text (the package's modules use
#: ``from __future__ import annotations``; None allowed with ``| None``): what it is called
#: in a message, and the test a value must pass.
_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "PathLike": ("a path (str or os.PathLike)", is_path),
    "str": ("a string", lambda v: isinstance(v, str)),
    "bool": ("True or False", is_flag),
    # docs/api.md: each called positionally, every argument given
    "Progress": ("an object with start(), advance() and done()", _is_progress),
}
_HINTS = {
    "Progress": (
        "Give an object with start(description, total, unit), advance(amount) and done(), "
        "or None for no progress."
    ),
}


def argument_kinds(op: Callable[..., Any]) -> dict[str, tuple[str, bool]]:
    """``name -> (kind, None allowed)`` for each argument of ``op`` annotated as one of
    :data:`_KINDS` (a path, text, a flag, a progress)."""
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
    """An argument of another kind than its annotation's (``variant=1``, ``data_dir=123``,
    ``strict="false"``, ``progress=print``) is a UsageError naming it, not the
    ``AttributeError`` or ``TypeError`` it would raise further down."""
    for name, value in given:
        kind = kinds.get(name)
        if kind is None or (value is None and kind[1]):
            continue
        wanted, accepts = _KINDS[kind[0]]
        if accepts(value):
            continue
        shown = type(value).__name__
        if isinstance(value, os.PathLike):
            with contextlib.suppress(TypeError):
                shown += f" (whose __fspath__ gives {type(os.fspath(value)).__name__})"
        raise _usage(
            f"{name} must be {wanted}, not {shown}",
            _HINTS.get(kind[0], f"Give {name} as {wanted}."),
            name,
        )


def _refuse_nul(given: list[tuple[str, Any]]) -> None:
    for name, value in given:
        bad = _with_nul(value)
        if bad is not None:
            raise _usage(
                f"The {name} argument holds a NUL byte: {bad!r}",
                "No file name can hold a NUL byte ('\\0'): pass it without.",
                name,
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
