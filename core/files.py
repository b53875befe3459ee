"""File helpers shared across core, with no heavy imports (the GUI thread may use them)."""

from __future__ import annotations

import hashlib


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MB blocks; OSError if it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
