"""Process pools whose workers never outlive the process that made them.

A worker of a :class:`~concurrent.futures.ProcessPoolExecutor` waits on its call queue; when
the process that made the pool is killed (SIGKILL, the OOM killer) nothing tells it, so it
lives on with parent PID 1, holding its memory. Every process pool of the package is made by
:func:`process_pool`, whose initializer binds each worker to that process, its *owner*
(:func:`bind_to_owner`):

* **Linux, the owner is the parent** (the fork and spawn methods):
  ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its parent
  exits, even in the middle of a long C call. The signal follows the death of the parent
  *thread* that forked the worker, not of the whole process: that is safe here because each
  pool is made, used and shut down within one call, in one thread (a thread that ends while
  its pool still runs would take the workers with it). An owner that died before the
  ``prctl`` took effect is caught by comparing ``getppid()`` afterwards.
* **Otherwise** -- the forkserver method, whose workers are children of the fork server (which
  itself waits for them before it exits, so their parent never dies first), or a platform
  without ``prctl``: a daemon thread in each worker waits for the owner to exit and then ends
  the worker. It waits on a pidfd where Linux has one (no polling); else it polls every
  :data:`POLL` seconds whether ``getppid()`` changed (the owner is the parent) or the owner's
  PID is gone; on Windows it waits on the parent's multiprocessing sentinel.

Workers also ignore Ctrl-C: the owner handles it and shuts the pool down.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lungsegdb_cli.utils.signals import sigint_blocked
from lungsegdb_cli.utils.workers import ignore_sigint

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.context import BaseContext

#: ``<linux/prctl.h>``.
PR_SET_PDEATHSIG = 1
#: Seconds between two looks at the parent, where the kernel does not signal its death.
POLL = 0.1
#: Use ``PR_SET_PDEATHSIG`` where the platform has it. False: the polling thread everywhere
#: (the tests switch it off in a parent process to check the fallback; forked workers inherit it).
USE_PDEATHSIG = True
#: A worker whose parent is gone exits with this status (nobody is left to read it).
ORPHANED = 1


def process_pool(
    workers: int, ctx: BaseContext, init: Callable[[], None] | None = None
) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes started by ``ctx``, each ending when this process ends
    (:func:`bind_to_owner`) and deaf to Ctrl-C, then running ``init`` (a module-level
    function, so that it pickles for the spawn and forkserver methods)."""
    owner = os.getpid()
    return _owned_pool()(workers, mp_context=ctx, initializer=_start, initargs=(owner, init))


@functools.cache
def _owned_pool() -> type[ProcessPoolExecutor]:
    """The pool class (made on first use: ``concurrent.futures`` is imported only then)."""
    from concurrent.futures import ProcessPoolExecutor

    class OwnedPool(ProcessPoolExecutor):
        """A :class:`ProcessPoolExecutor` safe against a Ctrl-C at any instant of its life:

        * workers are forked with SIGINT blocked (:func:`sigint_blocked` around ``submit``,
          which starts them), so a Ctrl-C sent to the process group before a worker's
          initializer has set it to be ignored waits, and is then dropped -- a worker never
          runs its parent's handler (which made the pool "broken", exit 1 with a traceback);
        * ``shutdown(wait=True)`` kills what is still alive once the executor is done with it:
          a Ctrl-C that stopped ``submit`` while it was starting workers leaves workers the
          executor never told to stop, and Python's exit would wait for them forever."""

        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            import multiprocessing

            limit: int = self._max_workers  # type: ignore[attr-defined]  # private: not in typeshed
            starting = len(getattr(self, "_processes", None) or {}) < limit
            before = {p.pid for p in multiprocessing.active_children()} if starting else set()
            with sigint_blocked():
                try:
                    return super().submit(fn, *args, **kwargs)
                except BaseException:
                    if starting:  # stopped while starting workers: none may outlive it
                        self._strays = [
                            p for p in multiprocessing.active_children() if p.pid not in before
                        ]
                    raise

        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            left = [
                *(getattr(self, "_processes", None) or {}).values(),
                *getattr(self, "_strays", ()),
            ]
            manager = getattr(self, "_executor_manager_thread", None)
            if manager is not None and manager.ident is None:  # made, never started
                self._executor_manager_thread = None  # type: ignore[assignment]  # a Thread (typeshed: not)
            try:
                super().shutdown(wait=wait, cancel_futures=cancel_futures)
            finally:
                if wait:
                    _stop(left)

    return OwnedPool


def _stop(processes: list[Any]) -> None:
    """Terminate, then kill, the processes of ``processes`` still alive; reap them."""
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(1.0)
        if proc.is_alive():  # pragma: no cover - SIGTERM ignored
            proc.kill()
            proc.join(1.0)


def _start(owner: int, init: Callable[[], None] | None) -> None:
    """The initializer of every pooled worker: Ctrl-C ignored (then unblocked: forked with it
    blocked, see :func:`process_pool`), bound to its owner, then ``init``."""
    ignore_sigint()
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    bind_to_owner(owner)
    if init is not None:
        init()


def bind_to_owner(owner: int) -> None:
    """End this process when process ``owner`` (the one that made the pool) exits; at once
    if it is gone already."""
    if USE_PDEATHSIG and os.getppid() == owner and _set_pdeathsig(signal.SIGKILL):
        if os.getppid() != owner:
            os._exit(ORPHANED)  # it died before the kernel was told to watch it
        return
    _watch(owner)


def _set_pdeathsig(sig: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)``; True if the kernel took it (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return False
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return bool(prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)


def _watch(owner: int) -> None:
    """Start the thread that ends this process once ``owner`` has exited."""
    threading.Thread(target=_end_with, args=(owner,), name="lungsegdb-owner", daemon=True).start()


def _end_with(owner: int) -> None:
    _wait_for_exit(owner)
    os._exit(ORPHANED)


def _wait_for_exit(owner: int) -> None:
    """Return once process ``owner`` has exited (or at once if it has)."""
    if _wait_on_pidfd(owner):
        return
    if os.name != "posix":  # pragma: no cover - Windows: getppid() keeps a dead parent's PID
        import multiprocessing

        there = multiprocessing.parent_process()
        if there is not None:
            there.join()
        return
    parent = os.getppid() == owner
    while (os.getppid() == owner) if parent else _exists(owner):
        time.sleep(POLL)  # an orphan is re-parented (to init or a subreaper)


def _wait_on_pidfd(owner: int) -> bool:
    """Wait for ``owner`` to exit on a pidfd (Linux 5.3 and later); False if there is none."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return False
    try:
        fd = pidfd_open(owner)
    except ProcessLookupError:
        return True  # gone already
    except OSError:  # ENOSYS (an older kernel), EPERM (a sandbox): poll instead
        return False
    import select

    select.select([fd], [], [])  # readable once the process has exited
    return True


def _exists(pid: int) -> bool:
    """True while a process ``pid`` exists (a zombie counts until it is reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
