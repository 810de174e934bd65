"""Display windows (``--window``): parsing, the rule each kind of image gets, the mapping."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from lungsegdb_cli.errors import UsageError

# internals: training/window is the display-window rule table itself (no public door)
from lungsegdb_cli.training import montage, window
from lungsegdb_cli.training.window import Shown, WindowSpec, choose, parse, to_grey


def test_the_docstring_examples_run() -> None:
    for module in (window, montage):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, module.__name__


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, WindowSpec("auto")),
        ("auto", WindowSpec("auto")),
        (" AUTO ", WindowSpec("auto")),
        ("lung", WindowSpec("lung", -600.0, 1500.0)),
        ("Mediastinum", WindowSpec("mediastinum", 40.0, 400.0)),
        ("-600,1500", WindowSpec("custom", -600.0, 1500.0)),
        (" 40 , 400 ", WindowSpec("custom", 40.0, 400.0)),
        ("0.5,1e3", WindowSpec("custom", 0.5, 1000.0)),
    ],
)
def test_window_values(value: str | None, expected: WindowSpec) -> None:
    assert parse(value) == expected
    assert parse(str(expected)) == expected  # what the result records parses back


@pytest.mark.parametrize(
    "value",
    ["", "bone", "-600", "-600,", ",1500", "-600,1500,3", "-600,0", "-600,-5", "a,b",
     "nan,100", "0,inf", "-600;1500", 5],
)  # fmt: skip
def test_bad_window_values_are_usage_errors(value: object) -> None:
    with pytest.raises(UsageError, match="--window must be") as err:
        parse(value)  # type: ignore[arg-type]
    assert err.value.exit_code == 2 and err.value.hint


def ct(pad: int = -2600) -> np.ndarray:
    """A small HU slice: padding in the corners, air, soft tissue, lung, bone."""
    a = np.full((64, 64), pad, dtype=np.int16)
    a[4:60, 4:60] = -1000
    a[10:54, 10:54] = 40
    a[20:40, 20:40] = -860
    a[45:50, 30:35] = 1200
    return a


def test_signed_hu_gets_the_lung_window_and_8_bit_grey_keeps_its_percentiles() -> None:
    assert choose(ct()) == Shown("lung", -1350.0, 150.0)
    assert choose(ct(-1024)) == Shown("lung", -1350.0, 150.0)
    grey = np.arange(64 * 64, dtype=np.int64).reshape(64, 64) % 251
    u8 = grey.astype(np.uint8)
    lo, hi = np.percentile(u8.astype(np.float32), (1, 99))
    assert choose(u8) == Shown("percentile-frame", float(lo), float(hi))
    # a fixed window does not apply to 8-bit grey: it was windowed when stored
    assert choose(u8, parse("mediastinum")).rule == "percentile-frame"
    assert choose(ct(), parse("mediastinum")) == Shown("mediastinum", -160.0, 240.0)
    assert choose(ct(), parse("100,50")) == Shown("custom", 75.0, 125.0)


def test_other_images_take_percentiles_of_the_body_not_the_padding() -> None:
    hu = ct()
    scanner = np.where(hu == -2600, 0, hu.astype(np.int32) + 3000).astype(np.uint16)
    shown = choose(scanner)
    body = scanner[scanner > 0].astype(np.float32)
    assert shown == Shown("percentile-body", *map(float, np.percentile(body, (1, 99))))
    assert shown.lo == 2000.0  # air, not the padding's 0
    # signed, but not HU (nothing at or below air): also the body's percentiles
    shifted = (hu.astype(np.int32) + 3000).astype(np.int16)
    assert choose(shifted).rule == "percentile-body"
    # a float image of HU is not taken for integers' HU either
    assert choose(hu.astype(np.float32)).rule == "percentile-body"
    # a flat image: the frame, and a white point above the black one
    flat = choose(np.full((4, 4), 7, dtype=np.uint16))
    assert flat.lo == 7.0 and flat.hi == 8.0


def test_the_mapping_and_the_legend() -> None:
    shown = Shown("lung", -1350.0, 150.0)
    assert to_grey(np.array([-3000, -1350, -600, 150, 3000]), shown).tolist() == [
        0, 0, 127, 255, 255
    ]  # fmt: skip
    assert shown.legend == "lung L-600 W1500"
    assert Shown("custom", 75.0, 125.0).legend == "L100 W50"
    assert Shown("rgb").legend == "RGB as stored"
    assert window.legend([shown, Shown("rgb"), shown]) == ["lung L-600 W1500", "RGB as stored"]
