"""The intact-tree check by hand: what ``download`` on an intact tree and ``verify --quick``
do, in a few lines of the standard library and nothing else (no lock, no recovery, no path
confinement, no pin record, no extra files looked for). ``bench_startup`` runs it as the
"theirs" side of those rows: the floor a Python process on this machine starts from.

    python benchmarks/bare_check.py DATA_ROOT    # exit 0 if every listed file has its size
"""

import json
import os
import re
import sys

root = sys.argv[1]
with open(os.path.join(root, "LungSegDB.sha256"), encoding="utf-8") as fh:
    listed = re.findall(r"^[0-9a-f]{64} [ *](.+)$", fh.read(), re.MULTILINE)
with open(os.path.join(root, ".lungsegdb", "manifest-sizes.json"), "rb") as fh:
    sizes = json.loads(fh.read())["files"]
tree = os.path.join(root, "LungSegDB") + "/"
sys.exit(0 if all(os.lstat(tree + p).st_size == sizes[p] for p in listed) else 1)
