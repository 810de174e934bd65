"""Numbers from environment variables: finite, positive, the right type, or a usage error."""

from __future__ import annotations

import pytest

# internals: exercises archive/extract, utils, ... directly (not public API)
from lungsegdb_cli.archive.extract import Limits
from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.utils import envvars

BAD_FOR_BOTH = ["nan", "NaN", "inf", "-inf", "infinity", "0", "-1", "1e999", "abc", "12abc", "0x10"]


@pytest.mark.parametrize("raw", [*BAD_FOR_BOTH, "2.5", "1e-3"])
def test_positive_int_refuses_with_the_name_and_value(raw: str) -> None:
    with pytest.raises(UsageError) as info:
        envvars.positive_int("LUNGSEGDB_X", 7, {"LUNGSEGDB_X": raw})
    assert "LUNGSEGDB_X" in info.value.message
    assert repr(raw) in info.value.message
    assert int(info.value.exit_code) == 2


@pytest.mark.parametrize("raw", BAD_FOR_BOTH)
def test_positive_float_refuses_with_the_name_and_value(raw: str) -> None:
    with pytest.raises(UsageError) as info:
        envvars.positive_float("LUNGSEGDB_X", 7.0, {"LUNGSEGDB_X": raw})
    assert "LUNGSEGDB_X" in info.value.message and repr(raw) in info.value.message


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (None, 7),
        ("", 7),
        ("  ", 7),
        ("5", 5),
        (" 12 ", 12),
        ("1_000", 1000),
        ("1e3", 1000),
        ("64.0", 64),
    ],
)
def test_positive_int_accepts(raw: str | None, want: int) -> None:
    env = {} if raw is None else {"LUNGSEGDB_X": raw}
    got = envvars.positive_int("LUNGSEGDB_X", 7, env)
    assert got == want and type(got) is int


@pytest.mark.parametrize(("raw", "want"), [(None, 7.0), ("", 7.0), ("2.5", 2.5), ("1e3", 1000.0)])
def test_positive_float_accepts(raw: str | None, want: float) -> None:
    env = {} if raw is None else {"LUNGSEGDB_X": raw}
    assert envvars.positive_float("LUNGSEGDB_X", 7.0, env) == want


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("LUNGSEGDB_MAX_RATIO", "nan"),
        ("LUNGSEGDB_MAX_RATIO", "inf"),
        ("LUNGSEGDB_MAX_BYTES", "inf"),
        ("LUNGSEGDB_MAX_BYTES", "nan"),
        ("LUNGSEGDB_MAX_BYTES", "-5"),
        ("LUNGSEGDB_MAX_FILES", "1e999"),
        ("LUNGSEGDB_MAX_FILES", "0.5"),
    ],
)
def test_extract_limits_refuse_non_finite_caps(name: str, raw: str) -> None:
    with pytest.raises(UsageError) as info:
        Limits.from_env({name: raw})
    assert name in info.value.message


def test_extract_limits_from_env_values_and_defaults() -> None:
    env = {"LUNGSEGDB_MAX_BYTES": "1e9", "LUNGSEGDB_MAX_FILES": "10", "LUNGSEGDB_MAX_RATIO": "50"}
    got = Limits.from_env(env)
    assert (got.max_bytes, got.max_members, got.max_ratio) == (10**9, 10, 50.0)
    assert Limits.from_env({}) == Limits()


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (None, False),
        ("", False),
        ("  ", False),
        ("0", False),
        ("false", False),
        ("No", False),
        ("OFF", False),
        ("1", True),
        ("true", True),
        (" YES ", True),
        ("on", True),
    ],
)
def test_flag_accepts(raw: str | None, want: bool) -> None:
    env = {} if raw is None else {"LUNGSEGDB_X": raw}
    assert envvars.flag("LUNGSEGDB_X", env) is want


@pytest.mark.parametrize("raw", ["2", "-1", "maybe", "y", "t", "enabled", "1.0"])
def test_flag_refuses_anything_else_naming_the_variable(raw: str) -> None:
    with pytest.raises(UsageError) as info:
        envvars.flag("LUNGSEGDB_X", {"LUNGSEGDB_X": raw})
    assert "LUNGSEGDB_X" in info.value.message and repr(raw) in info.value.message
    assert int(info.value.exit_code) == 2


def test_check_reads_every_documented_numeric_variable() -> None:
    """``envvars.check`` knows every numeric variable docs/cli.md's Environment table lists
    (but the decode limit, which validate/stats read first), with the same strictness as the
    module that uses it; the lock's wait too."""
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    for name in (
        "LUNGSEGDB_MAX_DOWNLOAD",
        "LUNGSEGDB_MIN_RATE",
        "LUNGSEGDB_RATE_WINDOW",
        "LUNGSEGDB_MAX_BYTES",
        "LUNGSEGDB_MAX_FILES",
        "LUNGSEGDB_MAX_RATIO",
        "LUNGSEGDB_WORKERS",
    ):
        assert f"`{name}`" in doc and name in envvars.NUMERIC
        envvars.check([name], {})  # unset: the default
        with pytest.raises(UsageError) as info:
            envvars.check([name], {name: "nan"})
        assert info.value.context["variable"] == name and "'nan'" in info.value.message
    for name, kind in envvars.NUMERIC.items():
        if kind == "int":
            with pytest.raises(UsageError):
                envvars.check([name], {name: "2.5"})
    with pytest.raises(UsageError) as info:
        envvars.check([envvars.LOCK], {envvars.LOCK: "-1"})
    assert info.value.context["variable"] == envvars.LOCK
    envvars.check([envvars.LOCK], {envvars.LOCK: "0"})
