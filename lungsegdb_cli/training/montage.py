"""Drawing for ``lungsegdb preview``: tiles with a mask outline, laid out in labelled rows.

Every slice is scaled (nearest neighbour, numpy index sampling: no filter to blur the mask) to
fit a :data:`TILE`-pixel square, grey images are windowed by the rules of
:mod:`lungsegdb_cli.training.window` (CT in Hounsfield units: the lung window; 8-bit grey: the
1st-99th percentile of the frame; others: of the body), and the mask's outline is drawn on top
in :data:`OUTLINE`: the **border** of the scaled mask, i.e. the mask pixels with at least one
4-neighbour outside the mask (the tile's edge counts as outside), one pixel wide. Text (row
labels, captions, a header) goes in strips beside and under the tiles, never over a slice, one
line each: control characters in it (a stem may hold a newline) are shown escaped (``\\x0a``).
Pillow (the ``[plot]`` extra) is imported here only.

The layout is fixed: a header strip, then per row a label column and the tiles, each with a
caption strip under it. :func:`compose` returns the PNG bytes and each tile's box (x, y, w, h
of the slice inside the PNG), so callers (and tests) know where every pixel went.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lungsegdb_cli.training.window import AUTO, Shown, WindowSpec, choose, to_grey
from lungsegdb_cli.utils.textsafe import escape

#: Side of the square every slice is scaled to fit (pixels).
TILE = 256
#: Height of the caption strip under each tile, the header strip, the row-label column width.
CAPTION = 16
HEADER = 22
LABEL_W = 168
PAD = 4
#: Colours (RGB): the mask outline, the background, text, a tile that could not be shown.
OUTLINE = (255, 0, 255)
BACKGROUND = (20, 20, 20)
TEXT = (235, 235, 235)
PLACEHOLDER = (60, 60, 60)


@dataclass
class TileArt:
    """What one tile shows: the slice as RGB ``uint8`` (already scaled) or None for a
    placeholder, the caption under it, and the note shown on a placeholder."""

    rgb: Any | None
    caption: str
    note: str | None = None


def fit(h: int, w: int, box: int = TILE) -> tuple[int, int]:
    """The size ``(h, w)`` scaled to fit a ``box`` square, aspect kept (at least 1 px)."""
    scale = box / max(h, w, 1)
    return max(1, min(box, round(h * scale))), max(1, min(box, round(w * scale)))


def _sample(a: Any, th: int, tw: int) -> Any:
    """``a`` (2D or HxWxC) resized to ``th`` x ``tw`` by nearest-neighbour index sampling:
    output pixel ``i`` takes source pixel ``floor((i + 0.5) * H / th)``."""
    h, w = a.shape[:2]
    rows = np.minimum(((np.arange(th) + 0.5) * h / th).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(tw) + 0.5) * w / tw).astype(np.intp), w - 1)
    return a[rows[:, None], cols[None, :]]


def border(mask: Any) -> Any:
    """Boolean array: mask pixels with a 4-neighbour outside the mask (or off the edge)."""
    m = np.asarray(mask) != 0
    p = np.pad(m, 1, constant_values=False)
    inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return m & ~inner


def _plane(a: Any) -> Any:
    """A 2D plane of ``a``: the first channel of HxWxC, the first page of anything deeper."""
    while a.ndim > 3 or (a.ndim == 3 and a.shape[-1] > 4):
        a = a[0]
    return a[..., 0] if a.ndim == 3 else a


def slice_art(
    image: Any, mask: Any | None = None, box: int = TILE, window: WindowSpec = AUTO
) -> tuple[Any, Shown]:
    """``image`` scaled to fit ``box`` as RGB ``uint8``, with ``mask``'s outline on it, and
    the window it was drawn with.

    An RGB(A) ``uint8`` image is shown as it is; anything else as grey, through the window
    :func:`lungsegdb_cli.training.window.choose` picks under ``window`` (the percentile rules
    look at the scaled tile). The mask (any nonzero is foreground; a multi-channel mask: any
    channel) is scaled to the image's tile size on its own, so a mask whose shape differs
    from the image's still lands on it.

    Examples
    --------
    >>> import numpy as np
    >>> ct = np.full((64, 64), -2600, dtype=np.int16); ct[8:56, 8:56] = 40
    >>> ct[20:40, 20:40] = -850
    >>> mask = np.zeros((64, 64), dtype=np.uint8); mask[20:40, 20:40] = 255
    >>> rgb, shown = slice_art(ct, mask, box=64)
    >>> rgb.shape, shown.legend, int(rgb[30, 30, 0]) < int(rgb[12, 12, 0])
    ((64, 64, 3), 'lung L-600 W1500', True)
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] in (3, 4) and a.dtype == np.uint8:
        plane = a[:, :, :3]
    else:
        plane = _plane(a)
    if plane.ndim not in (2, 3) or 0 in plane.shape[:2]:
        raise ValueError(f"cannot show an array of shape {a.shape}")
    th, tw = fit(plane.shape[0], plane.shape[1], box)
    small = _sample(plane, th, tw)
    if small.ndim == 3:
        rgb, shown = np.ascontiguousarray(small), Shown("rgb")
    else:
        shown = choose(plane, window, sample=small)
        rgb = np.ascontiguousarray(np.repeat(to_grey(small, shown)[:, :, None], 3, axis=2))
    if mask is not None:
        m = np.asarray(mask)
        if m.ndim == 3:
            m = (m != 0).any(axis=-1)
        if m.ndim == 2 and 0 not in m.shape:
            rgb[border(_sample(m != 0, th, tw))] = OUTLINE
    return rgb, shown


@dataclass
class Row:
    """One row of the montage: its label lines and its tiles."""

    label: Sequence[str]
    tiles: Sequence[TileArt]


def _font() -> Any:
    from PIL import ImageFont

    return ImageFont.load_default()


def _fit_text(draw: Any, font: Any, text: str, width: int) -> str:
    """``text`` as one line of ASCII cut with '...' to fit ``width`` px: control characters
    (a newline in a file name: Pillow cannot measure multi-line text) are escaped as a
    terminal shows them (:func:`lungsegdb_cli.utils.textsafe.escape`), other non-ASCII ones too."""
    s = escape(text).encode("ascii", "backslashreplace").decode("ascii")
    if draw.textlength(s, font=font) <= width:
        return s
    while s and draw.textlength(s + "...", font=font) > width:
        s = s[:-1]
    return s + "..."


def compose(
    title: str, rows: Sequence[Row], *, note: str | None = None
) -> tuple[bytes, list[list[tuple[int, int, int, int]]], tuple[int, int]]:
    """The montage as PNG bytes, each tile's slice box ``(x, y, w, h)`` per row, and the
    picture's ``(width, height)``. ``note``: a line under the header (e.g. nothing to show)."""
    from PIL import Image, ImageDraw

    cols = max([len(r.tiles) for r in rows] + [1])
    top = HEADER + (CAPTION if note else 0)
    cell_h = TILE + CAPTION + PAD
    width = max(PAD + LABEL_W + cols * (TILE + PAD), 480)
    height = top + len(rows) * cell_h + PAD
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    boxes: list[list[tuple[int, int, int, int]]] = []
    for r, row in enumerate(rows):
        y0 = top + r * cell_h
        mine: list[tuple[int, int, int, int]] = []
        for c, tile in enumerate(row.tiles):
            x0 = PAD + LABEL_W + c * (TILE + PAD)
            if tile.rgb is None:
                canvas[y0 : y0 + TILE, x0 : x0 + TILE] = PLACEHOLDER
                mine.append((x0, y0, TILE, TILE))
                continue
            th, tw = tile.rgb.shape[:2]
            x, y = x0 + (TILE - tw) // 2, y0 + (TILE - th) // 2
            canvas[y : y + th, x : x + tw] = tile.rgb
            mine.append((x, y, tw, th))
        boxes.append(mine)

    picture = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(picture)
    font = _font()
    draw.text((PAD, 4), _fit_text(draw, font, title, width - 2 * PAD), fill=TEXT, font=font)
    if note:
        draw.text((PAD, HEADER), _fit_text(draw, font, note, width - 2 * PAD), fill=TEXT, font=font)
    for r, row in enumerate(rows):
        y0 = top + r * cell_h
        for i, line in enumerate(row.label):
            text = _fit_text(draw, font, line, LABEL_W - PAD)
            draw.text((PAD, y0 + 4 + 14 * i), text, fill=TEXT, font=font)
        for c, tile in enumerate(row.tiles):
            x0 = PAD + LABEL_W + c * (TILE + PAD)
            cap = _fit_text(draw, font, tile.caption, TILE)
            draw.text((x0, y0 + TILE + 2), cap, fill=TEXT, font=font)
            if tile.rgb is None and tile.note:
                for i, line in enumerate(_wrap(tile.note, 40)[:8]):
                    text = _fit_text(draw, font, line, TILE - 2 * PAD)
                    draw.text((x0 + PAD, y0 + PAD + 14 * i), text, fill=TEXT, font=font)
    buf = io.BytesIO()
    picture.save(buf, format="PNG", compress_level=1)  # fast; the size differs little
    return buf.getvalue(), boxes, (width, height)


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken at spaces only (a newline in
    it is escaped first, as :func:`_fit_text` does, not taken as a line break)."""
    import textwrap

    return textwrap.wrap(escape(text), width) or [""]
