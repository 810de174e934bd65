"""``synth``: a synthetic LungSegDB-shaped tree and archive for tests and offline CI.

``make`` (the tree), ``phantom`` (the slices and masks), ``defects`` (one table row per
defect validate must find), ``archive`` (packing it).

May import: training, sources and everything below them. Every module here is internal.
"""
