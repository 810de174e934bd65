"""Getting the archive: the download's decisions, its sources and publishing to a mirror.

``download`` (the order of decisions, one commit), ``plan`` (the ordered sources), ``fetch``
(the network step), ``failures`` (errors with the next step spelled out), ``pinning``,
``discard`` (rejected bytes), ``cloud`` (fsspec URLs: s3, gs, az, hf), ``localfile``
(``file://`` and plain paths, standard library only), ``publish``;
``http/`` is the transfer itself, ``drive/`` Google Drive's links, pages and clients.

May import: archive, checks, tiff, state, dataset, utils, errors. Every module here is internal.
"""
