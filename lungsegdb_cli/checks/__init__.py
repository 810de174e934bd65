"""The tree checks: the manifest, ``verify``, ``validate``, ``stats`` and ``info``.

``manifest`` (the per-file SHA-256 list and its sidecar), ``origin`` (which archive a tree came
from), ``verify`` + ``verify_result``, ``validate`` + ``conventions`` (mask value conventions),
``stats``, ``info``; ``decodepass`` (the shared parallel decode pass) and ``scancache`` (the
decode cache) serve validate and stats.

May import: tiff, state, dataset, utils, errors. Every module here is internal.
"""
