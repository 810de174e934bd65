"""The bounds of one transfer: how many bytes it may bring, and how slowly it may bring them.

* **Size cap** (:meth:`Bounds.cap`): the pinned archive's size when it is known (an archive
  with the pinned SHA-256 was downloaded or used here before, and its provenance recorded
  its size), else the length the server announces (``Content-Length``), else
  ``LUNGSEGDB_MAX_DOWNLOAD`` bytes (default 4,000,000,000: four times the ~1 GB archive). A
  byte past the cap stops the transfer (:class:`~lungsegdb_cli.errors.DownloadTooLarge`):
  an endless body no longer fills the disk. A server announcing more than the pinned size is
  refused before its body.
* **Minimum rate** (:class:`RateGuard`): each read of the body asks for at most
  ``LUNGSEGDB_MIN_RATE`` KB/s x ``LUNGSEGDB_RATE_WINDOW`` s bytes (defaults 10 KB/s and 120 s:
  1.2 MB, so a 1 MiB block is still one read) and must get them within the window; fewer
  bytes in that time stop the transfer (:class:`~lungsegdb_cli.errors.DownloadTooSlow`). A read
  that overruns is cut by a :class:`~lungsegdb_cli.sources.http.watchdog.Watchdog`, so a server
  sending one
  byte every 20 s (which no per-``recv`` timeout catches) is stopped one window after its last
  good read. The default window is longer than the read timeout (60 s without a byte): a
  plain stall is still a timeout, retried and resumed; only a trickle is stopped here. The
  clock is injected.

Either way the caller removes the ``.part`` and the run exits 3 saying why. The variables are
parsed strictly (:mod:`lungsegdb_cli.utils.envvars`): a bad value is exit 2 naming it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.errors import DownloadTooLarge, DownloadTooSlow
from lungsegdb_cli.sources.http.watchdog import Interrupt, Watchdog, interrupter

__all__ = [
    "DEFAULT_MAX_DOWNLOAD",
    "DEFAULT_MIN_RATE",
    "DEFAULT_RATE_WINDOW",
    "ENV_MAX_DOWNLOAD",
    "ENV_MIN_RATE",
    "ENV_RATE_WINDOW",
    "Bounds",
    "Cap",
    "RateGuard",
]

ENV_MAX_DOWNLOAD = "LUNGSEGDB_MAX_DOWNLOAD"
ENV_MIN_RATE = "LUNGSEGDB_MIN_RATE"
ENV_RATE_WINDOW = "LUNGSEGDB_RATE_WINDOW"

#: Bytes a download of unknown length may bring: four times the ~1 GB archive (4 GB).
DEFAULT_MAX_DOWNLOAD = 4 * dataset.ARCHIVE_BYTES_ABOUT
#: KB/s (1 KB = 1,000 bytes) below which a transfer is stopped, averaged over the window.
DEFAULT_MIN_RATE = 10.0
#: Seconds over which the rate is measured (longer than the 60 s read timeout).
DEFAULT_RATE_WINDOW = 120.0

_PINNED = "the size of the archive the pin names"
_ANNOUNCED = "the length the server announced"
_MAXIMUM = f"{ENV_MAX_DOWNLOAD}, the most a download of unknown length may bring"


@dataclass(frozen=True)
class Cap:
    """The most bytes a transfer may hold, and what set that number."""

    limit: int
    why: str

    def exceeded(self) -> DownloadTooLarge:
        """The error for a transfer that got past :attr:`limit`."""
        if self.why == _MAXIMUM:
            hint = (
                "The server sends an endless or oversized answer: pass another mirror with "
                f"--url, or raise {ENV_MAX_DOWNLOAD} (bytes) if the archive really is bigger."
            )
        elif self.why == _PINNED:
            hint = "This source does not serve the pinned archive: pass another mirror with --url."
        else:
            hint = "The server sent more than it announced: pass another mirror with --url."
        return DownloadTooLarge(
            f"The download was stopped after more than {self.limit:,} bytes ({self.why}); "
            "the partial file was removed",
            hint=hint,
            limit=self.limit,
            cause=self.why,
        )


@dataclass(frozen=True)
class Bounds:
    """The limits of a transfer (see the module docstring); rates in bytes per second."""

    max_download: int = DEFAULT_MAX_DOWNLOAD
    min_rate: float = DEFAULT_MIN_RATE * 1000
    window: float = DEFAULT_RATE_WINDOW
    #: the size of the archive the pin names, when known
    pinned_size: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Bounds:
        """The defaults, overridden by ``LUNGSEGDB_MAX_DOWNLOAD`` (bytes),
        ``LUNGSEGDB_MIN_RATE`` (KB/s) and ``LUNGSEGDB_RATE_WINDOW`` (seconds); a value that is
        not a finite positive number is a :class:`~lungsegdb_cli.errors.UsageError`."""
        from lungsegdb_cli.utils import envvars

        return cls(
            max_download=envvars.positive_int(ENV_MAX_DOWNLOAD, DEFAULT_MAX_DOWNLOAD, env),
            min_rate=envvars.positive_float(ENV_MIN_RATE, DEFAULT_MIN_RATE, env) * 1000,
            window=envvars.positive_float(ENV_RATE_WINDOW, DEFAULT_RATE_WINDOW, env),
        )

    def pinned(self, size: int | None) -> Bounds:
        """These bounds for an archive the pin says is ``size`` bytes (None: not known)."""
        return replace(self, pinned_size=size)

    def cap(self, announced: int | None) -> Cap:
        """The cap of a transfer whose server announces ``announced`` bytes in all (None:
        no length). Raises :class:`DownloadTooLarge` at once when that is more than the
        pinned archive's size."""
        if self.pinned_size is not None:
            if announced is not None and announced > self.pinned_size:
                raise DownloadTooLarge(
                    f"The server announces {announced:,} bytes, more than the "
                    f"{self.pinned_size:,} of the archive the pin names; nothing more was "
                    "downloaded",
                    hint="This source does not serve the pinned archive: pass another mirror "
                    "with --url.",
                    limit=self.pinned_size,
                    announced=announced,
                    cause=_PINNED,
                )
            return Cap(self.pinned_size, _PINNED)
        if announced is not None:
            return Cap(announced, _ANNOUNCED)
        return Cap(self.max_download, _MAXIMUM)


class RateGuard:
    """Times the reads of a transfer's bodies against the minimum rate (module docstring).
    :meth:`bind` gives the reader of one response; :meth:`close` stops the watchdog."""

    def __init__(self, bounds: Bounds, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = bounds.window
        self.min_rate = bounds.min_rate
        #: the most bytes one read asks for: what the minimum rate brings in one window
        self.step = max(1, int(bounds.min_rate * bounds.window))
        self._clock = clock
        self._dog = Watchdog(clock, poll=min(1.0, bounds.window / 4))

    def bind(self, resp: object) -> _BoundReads:
        """The guard of the reads of ``resp``'s body (cut through its socket if they stall)."""
        return _BoundReads(self, interrupter(resp))

    def begin(self, size: int, interrupt: Interrupt | None) -> tuple[int, float]:
        """Start timing one read the caller is about to make of up to ``size`` bytes: how
        many it may ask for (one window's worth at the minimum rate), and when it started.
        The watchdog is armed to ``interrupt`` the read at the window's end."""
        start = self._clock()
        if interrupt is not None:
            self._dog.arm(start + self.window, interrupt)
        return min(size, self.step), start

    def end(self, start: float, error: BaseException | None = None) -> None:
        """Stop timing the read :meth:`begin` started at ``start``; ``error``: what the read
        raised (the caller re-raises it unless this raises). Raises
        :class:`DownloadTooSlow` when the read was cut or took longer than the window (a
        read that failed because it was cut fails as too slow, not as the cut connection;
        Ctrl-C stays Ctrl-C)."""
        cut = self._dog.disarm()
        if error is not None:
            if cut and isinstance(error, Exception):
                raise self._too_slow() from None  # the error is the cut connection's
            return
        if cut or self._clock() - start > self.window:
            raise self._too_slow()

    def close(self) -> None:
        self._dog.close()

    def _too_slow(self) -> DownloadTooSlow:
        rate = self.min_rate / 1000
        return DownloadTooSlow(
            f"The download was stopped: fewer than {self.step:,} bytes arrived in "
            f"{self.window:g} s (under {rate:g} KB/s, {ENV_MIN_RATE}, over "
            f"{ENV_RATE_WINDOW}); the partial file was removed",
            hint=(
                "The server sends too slowly (it may be trickling on purpose): pass another "
                f"mirror with --url, or lower {ENV_MIN_RATE} (KB/s) on a really slow network."
            ),
            min_rate_kb=rate,
            window=self.window,
        )


@dataclass
class _BoundReads:
    """:class:`RateGuard`'s timing of the reads of one response (the ``ReadGuard`` of its
    :class:`~lungsegdb_cli.sources.http.body.BodyReader`, which makes each read itself)."""

    guard: RateGuard
    interrupt: Interrupt | None
    start: float = 0.0

    def begin(self, size: int) -> int:
        size, self.start = self.guard.begin(size, self.interrupt)
        return size

    def end(self, error: BaseException | None = None) -> None:
        self.guard.end(self.start, error)
