"""What counts as lung in a mask: the one rule every reader of a mask applies.

``validate`` (``empty-mask``), ``stats`` (the foreground fraction), ``load_pair`` and
``PairDataset``, and every export (the 0/1 labels of ``nnunet``, ``monai``, ``hf``,
``webdataset``) all call :func:`foreground`, so they agree on every mask:

* an alpha channel is not drawing: a mask of 2 samples (gray + alpha) or 4 (RGBA) has its
  last channel dropped first, as an RGBA image loses its alpha when it is made single-channel
  (``export nnunet``);
* a pixel is foreground when any remaining channel is non-zero (``!= 0``): ``0/255``, ``0/1``,
  ``True/False`` and the ``0/-1`` that some tools write for logical true are all masks whose
  non-zero pixels are lung. NaN in a float mask is not a number, so not non-zero: not lung
  (``validate`` reports such a mask as ``non-binary-mask``).

The array is a page as decoded, samples last: ``(H, W)`` or ``(H, W, C)``;
:func:`lungsegdb_cli.tiff.decode.page_array` gives a tifffile page in that layout (a planar
``(C, H, W)`` page too). The rule is defined here, in ``tiff/``, because the decode counts
the foreground while it holds the pixels; :mod:`lungsegdb_cli.checks.conventions` (the mask
value conventions) re-exports it.
"""

from __future__ import annotations

from typing import Any

#: Samples per pixel whose last channel is alpha (dropped before the foreground test).
ALPHA_CHANNELS: dict[int, str] = {2: "gray + alpha", 4: "RGBA"}


def colour(mask: Any) -> Any:
    """``mask`` without its alpha channel (a view): unchanged unless it has 2 or 4 samples."""
    if mask.ndim == 3 and mask.shape[-1] in ALPHA_CHANNELS:
        return mask[..., :-1]
    return mask


def foreground(mask: Any) -> Any:
    """The ``(H, W)`` boolean foreground of ``mask``: alpha dropped, any channel ``!= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> foreground(np.array([[0, -1], [255, 0]], np.int16)).tolist()
    [[False, True], [True, False]]
    >>> rgba = np.zeros((1, 2, 4), np.uint8); rgba[..., 3] = 255; rgba[0, 1, 0] = 255
    >>> foreground(rgba).tolist()
    [[False, True]]
    >>> foreground(np.array([[0.0, 1.0, np.nan]], np.float32)).tolist()
    [[False, True, False]]
    """
    m = colour(mask)
    fg = m != 0
    if m.dtype.kind in "fc":
        fg &= m == m  # NaN is not lung
    if fg.ndim == 3:
        fg = fg.any(axis=-1)
    return fg


def count(mask: Any) -> int:
    """The number of foreground pixels of ``mask`` (see :func:`foreground`)."""
    import numpy as np

    if mask.ndim == 2 and mask.dtype.kind not in "fc":
        return int(np.count_nonzero(mask))
    return int(np.count_nonzero(foreground(mask)))


def binary(mask: Any) -> Any:
    """``mask``'s foreground as 0/1 ``uint8``, ``(H, W)``: a label."""
    import numpy as np

    return foreground(mask).view(np.uint8)  # a bool array's bytes are 0/1
