"""``export FORMAT OUT``: the pairs laid out for nnU-Net, MONAI, folders or CSV, atomically.

``run`` (the front door: splits, plan, staging, record), ``layout`` (each format's paths and
metadata), ``place`` (link, or rewrite masks 0/1), ``claim`` (owning OUT for the run),
``atomic`` (staging beside OUT, one rename into place), ``check`` (``verify-export``).

May import: training and everything below it. Every module here is internal.
"""
