"""What a folder holds, to show that a refused command changed nothing: :func:`entries`."""

from __future__ import annotations

from pathlib import Path


def entries(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """Every entry under ``root`` (and ``root`` itself): mode, inode, size, mtime. A file
    created and removed again still changes its folder's mtime."""
    out = {}
    for where in [root, *sorted(root.rglob("*"))]:
        st = where.lstat()
        out[where.relative_to(root).as_posix()] = (
            st.st_mode,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
        )
    return out
