"""What every public operation shares: the ``PathLike`` type, the one door to a data dir, and
:func:`boundary`, the net :mod:`lungsegdb_cli` puts around each operation it exports."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover - types only
    from lungsegdb_cli.dataset.paths import DataPaths

from lungsegdb_cli.utils.arguments import ArgumentCheck, PathLike

__all__ = ["PathLike", "boundary", "data_paths"]

_Op = TypeVar("_Op", bound=Callable[..., Any])


def data_paths(
    data_dir: PathLike | None,
    *,
    must_exist: bool = False,
    tidy: bool = True,
    writing: bool = False,
) -> DataPaths:
    """Every operation's data dir, recovered first (a commit a killed writer left half-done
    is finished before anything is read or written): :mod:`lungsegdb_cli.state.datadir`
    (``tidy``, ``writing``: see :func:`~lungsegdb_cli.state.datadir.open_data_dir`)."""
    from lungsegdb_cli.state.datadir import open_data_dir

    return open_data_dir(data_dir, must_exist=must_exist, tidy=tidy, writing=writing)


def boundary(op: _Op) -> _Op:
    """``op`` as :mod:`lungsegdb_cli` exports it, with the command line's net at the API's
    boundary, so the same input gives the same typed error either way:

    * the arguments are checked before ``op`` runs
      (:class:`~lungsegdb_cli.utils.arguments.ArgumentCheck`): a call that does not fit
      its signature, an argument of the wrong type, a NUL byte, a ``progress`` that is not
      one are a :class:`~lungsegdb_cli.errors.UsageError` (exit 2) naming the argument --
      not a raw ``TypeError`` or ``ValueError: embedded null byte`` from further down;
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

    check = ArgumentCheck.of(op)

    @functools.wraps(op)
    def call(*args: Any, **kwargs: Any) -> Any:
        check(args, kwargs)
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
