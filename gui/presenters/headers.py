"""The line over each image: its name, and its size or crop in the file's own pixels (a huge file is held
downsampled, and its crops with it), for a `HeadersView` (the window) to draw elided, the full path its tooltip."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ..models.layers import SLOTS
from ..models.session import ReviewSession


class HeadersView(Protocol):
    def show_header(self, slot: int, text: str, tail: str, tooltip: str) -> None:
        """`text` is elided first when space runs out; the `tail` is shown whole while it fits."""


class PairHeaders:
    def __init__(self, view: HeadersView, session: ReviewSession):
        self.view = view
        self._shown: list[dict[str, Any]] = [{"ready": None, "crop": None, "automatic": False} for _ in SLOTS]
        self._withheld = False  # a not-assessed pair: the model's automatic crop is withheld with its maps
        session.image_changed.connect(self.image_changed)
        session.crop_changed.connect(self.crop_changed)

    def image_changed(self, slot: int, ready) -> None:
        self._shown[slot] = {"ready": ready, "crop": None, "automatic": False}
        self._show(slot)

    def crop_changed(self, slot: int, box, automatic: bool) -> None:
        self._shown[slot].update(crop=box, automatic=automatic)
        self._show(slot)

    def set_withheld(self, withheld: bool) -> None:
        self._withheld = withheld
        for slot in SLOTS:
            self._show(slot)

    def _show(self, slot: int) -> None:
        """"Image 1: NAME  · automatic lesion crop X,Y W × H of W × H px". A crop covering the whole image
        (Shift+C on an automatic crop) says so rather than naming the box that was cleared."""
        shown = self._shown[slot]
        ready, crop = shown["ready"], shown["crop"]
        if shown["automatic"] and self._withheld:
            crop = None
        text, tail = f"Image {slot + 1}", ""
        if ready is not None:
            image = ready.image
            width, height = image.file_size
            text = f"Image {slot + 1}: {Path(image.path).name if image.path else 'pasted image'}"
            tail = f"  ({width} × {height} px)"
            if crop and tuple(crop) == (0, 0, *image.original_size) and not shown["automatic"]:
                tail = f"  · whole image, {width} × {height} px (no crop)"
            elif crop:  # the crop first: when space runs out, the image's size is what goes
                kind = "automatic lesion crop" if shown["automatic"] else "crop"
                x, y, w, h = (round(v * image.scale) for v in crop)
                tail = f"  · {kind} {x},{y} {w} × {h} of {width} × {height} px"
        self.view.show_header(slot, text, tail, ready.image.path if ready is not None and ready.image.path else "")
