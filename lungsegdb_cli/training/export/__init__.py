"""``export FORMAT OUT``: the pairs laid out for nnU-Net, MONAI, folders or CSV, or packed
into shards for Hugging Face ``datasets`` and WebDataset, atomically.

The stages :mod:`lungsegdb_cli.api.exporting` runs: ``record`` (the splits, the pairs they
assign, the record's document, the result: nothing written), ``layout`` (each format's paths
and metadata), ``place`` (link, or rewrite masks 0/1), ``outdir`` (OUT's protocol: claimed for
the run, staged beside, one rename into place, debris recovered), ``check``
(``verify-export``); the packed formats: ``samples`` (each pair's bytes, read once),
``shardsize`` (``--shard-size``), ``hf`` (Parquet shards and a dataset card), ``webdataset``
(tar shards and ``shards.json``).

May import: training and everything below it. Every module here is internal.
"""
