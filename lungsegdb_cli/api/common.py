"""What every public operation shares: the ``PathLike`` type, the one door to a data dir, and
:func:`boundary`, the net :mod:`lungsegdb_cli` puts around each operation it exports."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.dataset.paths import DataPaths

PathLike = str | os.PathLike[str]
_Op = TypeVar("_Op", bound=Callable[..., Any])


def data_paths(
    data_dir: PathLike | None, *, must_exist: bool = False, tidy: bool = True
) -> DataPaths:
    """Every operation's data dir, recovered first (a commit a killed writer left half-done
    is finished before anything is read or written): :mod:`lungsegdb_cli.state.datadir`
    (``tidy``: see :func:`~lungsegdb_cli.state.datadir.open_data_dir`)."""
    from lungsegdb_cli.state.datadir import open_data_dir

    return open_data_dir(data_dir, must_exist=must_exist, tidy=tidy)


def boundary(op: _Op) -> _Op:
    """``op`` as :mod:`lungsegdb_cli` exports it, with the command line's net at the API's
    boundary, so the same input gives the same typed error either way:

    * an argument holding a NUL byte (a path, or text: no file name can hold one, nor any
      option's value) is a :class:`~lungsegdb_cli.errors.UsageError` (exit 2) before ``op``
      runs -- not a raw ``ValueError: embedded null byte`` from the first file call;
    * an ``OSError`` that nothing below mapped (``ENAMETOOLONG`` from a data dir's name, ...)
      becomes what the command line's funnel makes of it
      (:func:`~lungsegdb_cli.errors.from_unmapped_os_error`: a
      :class:`~lungsegdb_cli.errors.LocalError`, exit 5), the ``OSError`` as its cause;
    * an error whose chain (``__cause__``, ``__context__``: what Python's traceback and
      ``logging.exception`` print under "During handling of the above exception") names a
      URL with its secrets leaves without that chain
      (:func:`~lungsegdb_cli.errors.hide_secret_chain`).

    The command line calls the operations of :mod:`lungsegdb_cli.api` unwrapped: its funnel
    applies the same mapping (and ``--debug`` shows the original traceback).

    Examples
    --------
    >>> import lungsegdb_cli as L
    >>> try:
    ...     L.info("data\\0dir")
    ... except L.UsageError as exc:
    ...     print(exc.exit_code, exc.message)
    2 The data_dir argument holds a NUL byte: 'data\\x00dir'
    """

    kinds = _argument_kinds(op)

    @functools.wraps(op)
    def call(*args: Any, **kwargs: Any) -> Any:
        given = _given(op, args, kwargs)
        _refuse_nul(given)
        _check_kinds(kinds, given)
        from lungsegdb_cli.errors import LungSegDBError, from_unmapped_os_error, hide_secret_chain

        try:
            return op(*args, **kwargs)
        except OSError as exc:
            err = from_unmapped_os_error(exc)
            err.__cause__, err.__suppress_context__ = exc, True  # as "raise err from exc"
        except LungSegDBError as exc:
            hide_secret_chain(exc)
            raise  # a bare re-raise: its chain is not set again
        # raised outside the handler, so Python does not chain the OSError back as context
        raise hide_secret_chain(err)

    return call  # type: ignore[return-value]


#: What an argument's annotation asks for, by its text (the package's modules use
#: ``from __future__ import annotations``): a path, or text; None allowed with ``| None``.
_KINDS = {"PathLike": "a path (str or os.PathLike)", "str": "a string"}


def _argument_kinds(op: Callable[..., Any]) -> dict[str, tuple[str, bool]]:
    """``name -> (kind, None allowed)`` for each argument of ``op`` annotated as a path or
    as text (see :data:`_KINDS`)."""
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
        kind = kinds.get(name)
        if kind is None or (value is None and kind[1]):
            continue
        wanted = (str, os.PathLike) if kind[0] == "PathLike" else str
        if not isinstance(value, wanted):
            from lungsegdb_cli.errors import UsageError

            raise UsageError(
                f"{name} must be {_KINDS[kind[0]]}, not {type(value).__name__}",
                hint=f"Give {name} as {_KINDS[kind[0]]}.",
                argument=name,
            )


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
