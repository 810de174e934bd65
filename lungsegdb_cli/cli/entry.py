"""The ``lungsegdb`` process: Ctrl-C at any instant of it exits 130, never with a traceback.

Python turns SIGINT into ``KeyboardInterrupt`` wherever the main thread is. Inside the CLI's
error funnel (:func:`lungsegdb_cli.cli.app.run`) that is handled: the command cleans up, the funnel
prints "Interrupted; ..." and returns 130. Outside it -- while typer, click and the commands'
modules are imported (about 0.1 s), before the funnel is entered, after it returned -- nothing
caught it, and Python printed a traceback. :func:`main` is the console script and what
``python -m lungsegdb_cli`` runs; it imports nothing heavy itself, wraps everything in one
``try`` and installs its own SIGINT handler first:

* the first Ctrl-C raises ``KeyboardInterrupt``, as Python's own handler does, so the command
  in progress cleans up as it always did; whatever did not report it (the funnel does), this
  module does: the two-line message (or the ``--json`` error document), exit 130;
* a Ctrl-C while that first one is being handled is ignored: the process is already on its
  way out, removing what it staged or finishing the renames after a commit point, and a
  second ``KeyboardInterrupt`` would only cut that clean-up short (SIGTERM and SIGKILL still
  end it);
* once the command's result is being written (:mod:`lungsegdb_cli.cli.phase`: its JSON
  document, its human output or its error), Ctrl-C is ignored: the run is over, stdout holds
  that one result and its exit code stands -- up to the interpreter's own exit, when SIGINT is
  ignored outright (Python would otherwise restore its default action for the shutdown, and a
  Ctrl-C then would kill the process by the signal).

What is left is Python's own start-up before any lungsegdb code runs (the interpreter,
``site``, ``.pth`` files of the environment) and the import of the ``lungsegdb_cli`` package
itself (a few milliseconds): a Ctrl-C there is Python's to handle.

Two test-only variables: ``LUNGSEGDB_SIGINT_AT`` makes the process send itself SIGINT at one
of the points ``start`` (handler installed, nothing imported yet), ``run`` (the CLI imported,
the funnel not entered), ``result`` (the result just written, the command not returned) or
``exit`` (the command returned); ``LUNGSEGDB_READY_FD=N`` makes it
write one byte to the inherited file descriptor N once the handler is installed, so a test can
send SIGINT from outside at chosen delays from there.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from lungsegdb_cli.cli import phase

ENV_SIGINT_AT = phase.ENV_SIGINT_AT
ENV_READY_FD = "LUNGSEGDB_READY_FD"

_RUNNING, _STOPPING, _DONE = "running", "stopping", "done"
_state = _RUNNING


#: How long a Ctrl-C that arrived where an exception would be lost waits to be raised again.
_DEFER_S = 0.005


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    """The first Ctrl-C of a running command raises ``KeyboardInterrupt``; others do nothing.

    Python runs a signal handler between any two bytecodes of the main thread, including
    where an exception does not come out as itself: in a finaliser -- a ``__del__`` method,
    or the weakref callback by which importlib drops a module's lock
    (``_get_module_lock.<locals>.cb``, run constantly while modules are imported) -- Python
    prints "Exception ignored in ..." with a traceback and carries on, as if no Ctrl-C had
    come; in a descriptor's ``__set_name__`` (every dataclass field, while its class is
    made) Python 3.11 turns it into a ``RuntimeError``; in an at-fork hook while a worker is
    forked (logging's lock release) it is swallowed too. Such a Ctrl-C is raised a moment
    later instead (``SIGALRM`` brings this handler back), wherever the program then is."""
    global _state
    if _state != _RUNNING or phase.result_out():
        return
    if (_held() or (frame is not None and _in_finaliser(frame))) and hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, _on_sigint)
        signal.setitimer(signal.ITIMER_REAL, _DEFER_S)
        return
    _state = _STOPPING
    raise KeyboardInterrupt


#: Functions an exception does not leave as itself (see :func:`_on_sigint`).
_SWALLOWING = frozenset({"__del__", "__set_name__"})


def _held() -> bool:
    """Ctrl-C is being held back (:func:`lungsegdb_cli.utils.signals.sigint_blocked`: workers
    forking, the result being written); the module is looked up, not imported: a process that
    never loaded it holds nothing, nor does one still importing it (a SIGINT that comes while
    its code has not run yet finds it in ``sys.modules`` without ``held``)."""
    held = getattr(sys.modules.get("lungsegdb_cli.utils.signals"), "held", None)
    return bool(callable(held) and held())


def _in_finaliser(frame: FrameType | None) -> bool:
    """``frame`` or a caller of it is a finaliser or a ``__set_name__``: an exception raised
    there would be ignored or turned into another."""
    while frame is not None:
        code = frame.f_code
        if (
            code.co_name in _SWALLOWING
            or (code.co_name == "cb" and code.co_filename.startswith("<frozen importlib"))
            or (  # os.fork() of a worker: its at-fork hooks (logging's lock) swallow exceptions
                code.co_name == "_launch" and code.co_filename.endswith("popen_fork.py")
            )
        ):
            return True
        frame = frame.f_back
    return False


def _install() -> None:
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not SIG_IGN (nohup &)
        signal.signal(signal.SIGINT, _on_sigint)


_sigint_at = phase.sigint_at


def _ready() -> None:
    """Test-only: one byte to the descriptor ``LUNGSEGDB_READY_FD`` names (then closed)."""
    fd = os.environ.get(ENV_READY_FD, "")
    if fd.isdigit():
        try:
            os.write(int(fd), b"r")
            os.close(int(fd))
        except OSError:
            pass


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``lungsegdb`` command with ``argv`` (default ``sys.argv[1:]``) and exit with its
    code; 130 on Ctrl-C, whenever it comes (see the module doc)."""
    global _state
    args = list(sys.argv[1:] if argv is None else argv)
    code: int | None = None
    try:
        _state = _RUNNING
        _install()
        _ready()
        _sigint_at("start")
        from lungsegdb_cli.cli import fast

        quick = fast.recognise(args)  # --help, download, verify: no typer (None: the rest)
        if quick is None:
            from lungsegdb_cli.cli.app import serve

            _sigint_at("run")
            code = serve(args)
        else:
            _sigint_at("run")
            code = quick()
        _state = _DONE
        _sigint_at("exit")
    except KeyboardInterrupt:
        _state = _STOPPING  # raised by code rather than by the handler: same from here on
    if code is None:
        from lungsegdb_cli.cli.output import report_interrupted

        code = report_interrupted(args)
    if signal.getsignal(signal.SIGINT) is _on_sigint:  # the run is over: its code stands
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(_flushed(code, args))


def _flushed(code: int, args: list[str]) -> int:
    """``code``, once what is still buffered for stdout is written (what a library printed
    itself, ``--version``): a reader gone is 141, a full device the two-line exit 5 -- not
    Python's failed flush at exit (exit 120, or 1 with a traceback)."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except ValueError:  # stdout closed by the program: nothing to flush
        return code
    except OSError as exc:  # what a result that cannot be written gets (cli/funnel.py)
        from lungsegdb_cli.cli import funnel
        from lungsegdb_cli.errors import from_stdout_error

        failed = exc if isinstance(exc, BrokenPipeError) else from_stdout_error(exc)
        return funnel.report(failed, args)
    return code
