"""Text wrapped to a width in pixels of a given font, for pictures drawn with Pillow (reports)."""

from __future__ import annotations

NOTE_LINES = 40  # of a drawn note; the JSON keeps all of it
NOTE_CHARS = 4000


def note_lines(note: str, font, width: int) -> list[str]:
    """The reviewer note as drawn: wrapped, at most NOTE_LINES lines of NOTE_CHARS characters in all, then
    "(truncated)"; the JSON keeps the whole note. Bounds the picture (and its memory) whatever was typed."""
    text = f"Reviewer note: {note}"
    clipped = len(text) > NOTE_CHARS
    lines = wrapped(text[:NOTE_CHARS], font, width)
    if clipped or len(lines) > NOTE_LINES:
        lines = lines[: NOTE_LINES - 1] + ["(truncated: the full note is in the JSON sidecar)"]
    return lines


def wrapped(text: str, font, width: int) -> list[str]:
    """`text` in lines no wider than `width` pixels of `font` (a word wider than that is cut), for notes, titles
    and captions drawn on charts and reports; stops a little past NOTE_LINES lines."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        if len(lines) > NOTE_LINES:
            break
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            while font.getlength(line) > width and len(line) > 1:  # one word wider than the page: cut it
                cut = _fitting_prefix(line, font, width)
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines


def _fitting_prefix(word: str, font, width: int) -> int:
    lo, hi = 1, len(word)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if font.getlength(word[:mid]) <= width:
            lo = mid
        else:
            hi = mid - 1
    return lo
