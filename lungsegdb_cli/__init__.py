"""lungsegdb: get the LungSegDB lung CT segmentation dataset onto a machine, verified.

The package is a library first; :mod:`lungsegdb_cli.cli` is a thin command line on top.
Importing it is cheap and has no side effects (no directories are created).
"""

__version__ = "0.1.0"

from lungsegdb_cli.errors import LungSegDBError

__all__ = ["LungSegDBError", "__version__"]
