"""One HTTP transfer: resume state, the body read in blocks, hashing as bytes arrive,
bounds (size cap, minimum rate, watchdog) and write-back behind the download.

May import: state, dataset, utils, errors. Every module here is internal.
"""
