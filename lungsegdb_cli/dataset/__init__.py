"""The dataset itself: what LungSegDB is, and where it lives on disk.

``card`` (Drive id, documented tree, counts, citation, licence, TIFF and OS-junk rules, the
variant/version names), ``paths`` (the data root and the on-disk layout; creates nothing),
``tree`` (walking a tree, pairing images with masks, confinement), ``walk`` (the one
directory walk).

May import: utils, errors. Every module here is internal.
"""
