"""What can be dropped or opened: one or two local image files. Whether a file *is* an image is left to core's
loader, whose error names the file; this only catches what is clearly not a file at all."""

from __future__ import annotations

from pathlib import Path


def drop_problem(paths: list[str]) -> str | None:
    """A one-line message explaining why these dropped paths cannot be loaded, or None when they can be tried."""
    if not paths:
        return "Nothing to load: drop image files"
    if any(not p for p in paths):
        return "Only local files can be dropped"
    if len(paths) > 2:
        return f"Drop one or two images at a time ({len(paths)} were dropped)"
    for path in map(Path, paths):
        if path.is_dir():  # a hint for the gesture; a missing file is the loader's to say (core.io.files.file_problem)
            return f"{path.name} is a folder: drop image files instead"
    return None
