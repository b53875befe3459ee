"""What can be dropped or opened: one or two local image files, by core's one definition of an image file
(core.io.image_files: an image suffix, or DICOM by its content). Whether an image file decodes is left to core's
loader, whose error names the file."""

from __future__ import annotations

from pathlib import Path

from ..jobs.tasks import not_an_image, printable


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
        reason = not_an_image(path)
        if reason:
            return f"{printable(path.name)}: {reason}"
    return None
