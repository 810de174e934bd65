"""TIFF: decoding one file within declared-size limits, its summary, and writing.

``decode`` (header, limits, decode, ``TooLargeImages``), ``raw`` (the plain-strip fast path),
``stats`` (exact per-file moments), ``summary`` (a file's summary), ``foreground`` (what
counts as lung in a mask: the one rule), ``write``.

May import: dataset, utils, errors. Every module here is internal.
"""
