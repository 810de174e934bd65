"""The hand-off to training: pairs, splits, exports and previews.

``pairs`` (``Pair``, ``load_pair``, ``PairDataset``), ``ensure`` (``PairDataset``'s
``download=True``), ``split`` (keyed-hash assignment, pure compute and locked write),
``preview`` + ``montage``; ``export/`` writes the pairs in the layouts frameworks read.

May import: sources (``ensure`` only: the download), checks, tiff, state, dataset, utils,
errors. Every module here is internal.
"""
