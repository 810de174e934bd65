"""Archives: reading the downloaded archive safely and extracting it into the documented tree.

The readers (``base``: the contracts; ``detect``/``formats``: which format, ``open_archive``;
``zip``, ``tar``, ``optional``: 7z and RAR) hand members to ``treemap`` (screening names and
mapping them onto the documented tree) and to extraction (``extract``: extraction as one
commit; ``extract_plan``: caps and planning; ``extract_write``: one hashing write loop).

May import: checks, tiff, state, dataset, utils, errors. Every module here is internal.
"""
