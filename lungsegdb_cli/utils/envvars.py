"""Numbers and switches from environment variables, validated in one place.

A numeric setting such as ``LUNGSEGDB_MAX_RATIO`` must be a finite, positive number of the
right type; anything else (``nan``, ``inf``, ``-1``, ``0``, ``1e999``, ``12abc``, ``2.5`` for
an integer) is a :class:`~lungsegdb_cli.errors.UsageError` (exit 2) naming the variable and
the bad value. An unset or empty (blank) variable gives the default. A switch such as
``LUNGSEGDB_OFFLINE`` (:func:`flag`) is one of ``1/true/yes/on`` or ``0/false/no/off`` (empty
or unset: off), anything else the same usage error. Never a silent fallback:
a cap that is quietly switched off (``nan`` compares false with everything) is a safety hole.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from lungsegdb_cli.errors import UsageError


def _raw(name: str, env: Mapping[str, str] | None) -> str | None:
    env = os.environ if env is None else env
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    return raw.strip()


def _bad(name: str, raw: str, kind: str) -> UsageError:
    return UsageError(
        f"{name} must be a finite positive {kind}, not {raw!r}",
        hint=f"Unset {name} or give it a positive {kind} (e.g. {name}=100).",
        variable=name,
        value=raw,
    )


def _finite(raw: str) -> float:
    """``raw`` as a finite float; nan when it is not a number, or not a finite one."""
    try:
        value = float(raw)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def positive_float(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    """``env[name]`` as a finite float > 0, else ``default`` when unset or blank.

    Raises :class:`UsageError` for anything else (nan, inf, zero, negative, not a number).
    """
    raw = _raw(name, env)
    if raw is None:
        return default
    value = _finite(raw)
    if not value > 0:  # nan too
        raise _bad(name, raw, "number")
    return value


def seconds(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    """``env[name]`` as a finite number of seconds, 0 or more, else ``default`` when unset or
    blank; anything else is a :class:`UsageError` naming the variable and its value."""
    raw = _raw(name, env)
    if raw is None:
        return default
    value = _finite(raw)
    if not value >= 0:  # nan too
        raise UsageError(
            f"{name} must be a number of seconds (0 or more), not {raw!r}",
            hint=f"Unset {name} or give it a number of seconds.",
            variable=name,
            value=raw,
        )
    return value


def positive_int(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    """``env[name]`` as an integer > 0, else ``default`` when unset or blank.

    Accepts ``1000``, ``1_000`` and whole numbers written as floats (``1e9``, ``64.0``); refuses
    fractions (``2.5``), nan, inf, zero, negatives and anything that is not a number with a
    :class:`UsageError`.
    """
    raw = _raw(name, env)
    if raw is None:
        return default
    try:
        return _checked_int(int(raw), name, raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        raise _bad(name, raw, "integer") from None
    if not math.isfinite(value) or not value.is_integer():
        raise _bad(name, raw, "integer")
    return _checked_int(int(value), name, raw)


def _checked_int(value: int, name: str, raw: str) -> int:
    if value <= 0:
        raise _bad(name, raw, "integer")
    return value


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def flag(name: str, env: Mapping[str, str] | None = None) -> bool:
    """``env[name]`` as a switch: ``1``/``true``/``yes``/``on`` (any case) are True;
    ``0``/``false``/``no``/``off``, empty (blank) or unset are False.

    Raises :class:`UsageError` (exit 2) naming the variable for anything else (``2``,
    ``maybe``): a switch that is quietly read as off is how a CI safety net disappears.
    """
    raw = _raw(name, env)
    if raw is None:
        return False
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(
        f"{name} must be 1/true/yes/on or 0/false/no/off, not {raw!r}",
        hint=f"Set {name}=1 to switch it on, or unset it (or {name}=0) to switch it off.",
        variable=name,
        value=raw,
    )


#: The numeric variables a command reads, and how each is parsed (a count is a whole number).
#: The modules that use them (``sources/http/bounds.py``, ``archive/extract_plan.py``,
#: ``utils/workers.py``) parse them again where they need the value; :func:`check` reads
#: them all up front, so a bad one stops the command before any work.
NUMERIC: dict[str, str] = {
    "LUNGSEGDB_MAX_DOWNLOAD": "int",
    "LUNGSEGDB_MIN_RATE": "float",
    "LUNGSEGDB_RATE_WINDOW": "float",
    "LUNGSEGDB_MAX_BYTES": "int",
    "LUNGSEGDB_MAX_FILES": "int",
    "LUNGSEGDB_MAX_RATIO": "float",
    "LUNGSEGDB_WORKERS": "int",
}
#: What a transfer reads (``download`` from a URL).
TRANSFER = ("LUNGSEGDB_MAX_DOWNLOAD", "LUNGSEGDB_MIN_RATE", "LUNGSEGDB_RATE_WINDOW")
#: ``extract``'s safety caps (``download`` too, unless ``--no-extract``).
EXTRACT = ("LUNGSEGDB_MAX_BYTES", "LUNGSEGDB_MAX_FILES", "LUNGSEGDB_MAX_RATIO")
#: Hashing, extraction and decode threads or processes (every command that hashes the tree).
WORKERS = ("LUNGSEGDB_WORKERS",)
#: The writer lock's wait in seconds (:func:`seconds`; its default is the lock module's).
LOCK = "LUNGSEGDB_LOCK_TIMEOUT"


def check(names: tuple[str, ...] | list[str], env: Mapping[str, str] | None = None) -> None:
    """Read every variable in ``names`` (from :data:`NUMERIC`, or :data:`LOCK`) and raise the
    :class:`UsageError` (exit 2) naming the first bad one: called where a command's options
    are gathered, before any byte is read, fetched or written, whatever path the command then
    takes (an up-to-date tree included). Cheap: no module beyond this one and ``errors``."""
    for name in names:
        if name == LOCK:
            seconds(name, 0.0, env)
        elif NUMERIC[name] == "int":
            positive_int(name, 1, env)
        else:
            positive_float(name, 1.0, env)
