"""The data dir's state: one commit protocol, its journal and locks, and the records it
keeps.

``commit`` (prepare beside, commit in one step, recover), ``journal``, ``locking`` (writer and
generation flocks), ``crashpoints`` (named checkpoints, the test-only crash hook),
``provenance`` (the kept archive's record), ``datadir`` (the one door: resolve, then recover).

May import: dataset, utils, errors. Every module here is internal.
"""
