"""Foundations every layer uses: environment variables, files, hashing, progress, workers.

``envvars`` (strict parsing), ``fsutil`` (atomic writes, free space), ``hashing`` (parallel
hashing, the one safe open), ``progress`` (the ``Progress`` protocol), ``workers`` and
``procpool`` (worker counts; pools whose workers die with their maker), ``install`` (optional
imports with the extra to install), ``textsafe`` (control characters escaped), ``statejson``
(state files parsed with a depth limit), ``csvsafe`` (CSV cells escaped against formulas),
``units`` (sizes in KiB, MiB, GiB; counts in the right number).

May import: errors. Every module here is internal.
"""
