"""The review state and its rules, Qt-widget free: the two images, their crops (with undo/redo), the model, the
method and the current explanation. Views call its methods and redraw on its signals; it talks to the runner.

Every request to the runner gets a fresh generation for its key; a result is used only if it is still the latest
for that key, so a superseded job never paints anything.
"""

from __future__ import annotations

import itertools

from PIL import Image
from PySide6.QtCore import QObject, Signal, Slot

from .runner import Environment, Explained, Exported, Faithful, ImageReady, Job, ModelReady, ModelRunner, SimilarFound

SLOTS = (0, 1)


class CropHistory:
    """Undo/redo of the pair's crop boxes; each state is (crop1, crop2)."""

    def __init__(self):
        self._undo: list[tuple] = []
        self._redo: list[tuple] = []

    def push(self, previous: tuple) -> None:
        self._undo.append(previous)
        self._redo.clear()

    def undo(self, current: tuple) -> tuple | None:
        if not self._undo:
            return None
        self._redo.append(current)
        return self._undo.pop()

    def redo(self, current: tuple) -> tuple | None:
        if not self._redo:
            return None
        self._undo.append(current)
        return self._redo.pop()

    def swap(self) -> None:
        self._undo = [state[::-1] for state in self._undo]
        self._redo = [state[::-1] for state in self._redo]

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)


class Presenter(QObject):
    environment_ready = Signal(object)  # Environment
    model_changed = Signal(object)  # ModelReady
    image_changed = Signal(int)  # slot whose image or crop changed
    explanation_changed = Signal(object)  # Explained, or None when the overlays no longer apply
    exported = Signal(object)  # Exported
    message = Signal(str, bool)  # text, is_error
    busy_changed = Signal(bool, str)  # busy, what the runner is doing
    history_changed = Signal(bool, bool)  # can undo, can redo
    similar_found = Signal(object)  # SimilarFound, or None when there is nothing to show
    similar_progress = Signal(int, int)  # done, total while the gallery's index is brought up to date
    faithfulness_changed = Signal(object)  # dict of deletion/insertion curves of the shown maps, or None

    def __init__(self, runner: ModelRunner, method: str = "gradcam"):
        super().__init__()
        self.runner = runner
        self.method = method
        self.environment: Environment | None = None
        self.model: ModelReady | None = None
        self.images = [None, None]  # uncropped core LoadedImage per slot
        self.qimages = [None, None]
        self.crops: list[tuple | None] = [None, None]
        # The model's automatic lesion box per slot, once an explanation has found it; a crop equal to it is
        # "automatic" (the reviewer can still adjust it, clear it to the whole image, and undo).
        self.auto_boxes: list[tuple | None] = [None, None]
        self.explained: Explained | None = None
        self.faithfulness: dict | None = None  # curves of self.explained's factual maps, once computed
        self.history = CropHistory()
        self._counter = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._loading: set[int] = set()  # slots whose new image is on its way: explain once all have arrived
        self._model_request: tuple[str | None, str] = (None, "auto")
        self.gallery: str | None = None  # folder whose nearest cases to image 1 are looked up
        self.similar_k = 10
        self.similar: SimilarFound | None = None
        # Per slot, where its image came from when it was opened from the similar cases (for the report).
        self.provenance: list[dict | None] = [None, None]
        self._hit_request: dict | None = None
        self._pending_crops: dict[int, tuple] = {}  # crops to apply when a pair opened with crops arrives
        # Bound methods of this GUI-thread object, never lambdas: PySide runs a lambda connected to the runner's
        # signals in the runner's thread, while these are queued to the GUI thread.
        runner.returned.connect(self._on_returned)
        runner.errored.connect(self._on_errored)
        runner.started.connect(self._on_started)
        runner.busy.connect(self._on_busy)
        runner.progress.connect(self._on_progress)

    # --- requests ----------------------------------------------------------------------------------
    def start(self, model_path: str | None, device: str) -> None:
        self._submit("environment", "environment", label="Starting…")
        self.load_model(model_path, device)

    def load_model(self, path: str | None, device: str | None = None) -> None:
        device = device or (self.model.requested_device if self.model else "auto")
        name = path or "the default model"
        self._submit("model", "load_model", label=f"Loading {name} on {device}…", path=path, device=device)

    def set_device(self, device: str) -> None:
        self.load_model(self.model.path if self.model else None, device)

    def open_image(self, index: int, source) -> None:
        """source: a file path, or a PIL image (pasted)."""
        self._hit_request = None
        self._pending_crops.pop(index, None)
        source = source if isinstance(source, Image.Image) else str(source)
        self._loading.add(index)
        self._submit(f"image{index}", "load_image", label=f"Loading image {index + 1}…", source=source)

    def open_paths(self, paths: list[str], index: int | None = None) -> None:
        """Dropped or opened files: two fill both slots; one goes to `index`, else to the first empty slot."""
        if len(paths) == 2:
            for slot, path in zip(SLOTS, paths):
                self.open_image(slot, path)
            return
        if index is None:
            empty = [slot for slot in SLOTS if self.images[slot] is None]
            if not empty:
                self.message.emit("Drop a single image onto the viewer whose image it should replace", True)
                return
            index = empty[0]
        self.open_image(index, paths[0])

    def open_pair(self, paths: list[str], crops=(None, None)) -> None:
        """Load both images (a worklist case) with the crops they were reviewed with."""
        for slot in SLOTS:
            self.open_image(slot, str(paths[slot]))
        self._pending_crops = {slot: tuple(crop) for slot, crop in zip(SLOTS, crops) if crop}

    def set_gallery(self, path: str | None) -> None:
        self.gallery = path or None
        self.find_similar()

    def find_similar(self) -> None:
        """Look up the cases nearest to image 1 in the gallery (its index is updated first, cancellably)."""
        if not self.gallery or self.images[0] is None or self.model is None:
            self._latest.pop("similar", None)
            self.runner.cancel("similar")
            self.similar = None
            self.similar_found.emit(None)
            return
        self._submit("similar", "similar", label="Finding similar cases…", gallery=self.gallery,
                     image=self.images[0], crop=self.crops[0], k=self.similar_k)

    def cancel_similar(self) -> None:
        """Stop updating the gallery's index; the hits then come from the images indexed so far."""
        self.runner.cancel("similar")

    def open_hit(self, hit: dict) -> None:
        """Load a similar case as image 2; the pair is explained as usual and its report says where it came from."""
        self.open_image(1, hit["path"])
        query = self.images[0].path if self.images[0] is not None else None
        self._hit_request = {"query": query, "rank": hit["rank"], "label": hit["label"],
                             "similarity": round(float(hit["similarity"]), 6), "gallery": self.gallery}

    def swap(self) -> None:
        self.provenance.reverse()
        self.images.reverse()
        self.qimages.reverse()
        self.crops.reverse()
        self.auto_boxes.reverse()
        self.history.swap()
        for slot in SLOTS:
            self.image_changed.emit(slot)
        self.explain()
        self.find_similar()

    def set_crop(self, index: int, box: tuple | None) -> None:
        if self.images[index] is None or self.crops[index] == box:
            return
        self.history.push(tuple(self.crops))
        self.crops[index] = box
        self._crops_changed((index,))

    def reset_crops(self) -> None:
        """Clear the crops: the whole images are explained, even by a model that crops automatically."""
        cleared = [self._whole_image(slot) if self.auto_boxes[slot] else None for slot in SLOTS]
        if cleared != self.crops:
            self.history.push(tuple(self.crops))
            changed = [slot for slot in SLOTS if self.crops[slot] != cleared[slot]]
            self.crops = cleared
            self._crops_changed(changed)

    def is_automatic(self, index: int) -> bool:
        return self.crops[index] is not None and self.crops[index] == self.auto_boxes[index]

    def undo(self) -> None:
        self._restore(self.history.undo(tuple(self.crops)))

    def redo(self) -> None:
        self._restore(self.history.redo(tuple(self.crops)))

    def set_method(self, method: str) -> None:
        if method != self.method:
            self.method = method
            self.explain()

    def explain(self) -> None:
        """(Re-)explain the current pair; any explanation in flight is superseded."""
        self._set_explained(None)
        if None in self.images or self._loading:
            self._latest.pop("explain", None)
            self.runner.cancel("explain")
            return
        self._submit("explain", "explain", label=f"Explaining the pair ({self.method})…",
                     images=tuple(self.images), crops=tuple(self.crops), method=self.method)

    def export(self, path: str, colormap: str, layers, note: str, overwrite: bool) -> bool:
        if self.explained is None:
            self.message.emit("Nothing to export yet: load and explain a pair first", True)
            return False
        self._submit("export", "export", label="Writing the report…", path=path, explained=self.explained,
                     colormap=colormap, layers=layers, note=note, overwrite=overwrite,
                     provenance=tuple(self.provenance), faithfulness=self.faithfulness)
        return True

    # --- results -----------------------------------------------------------------------------------
    @Slot(str, int, object)
    def _on_returned(self, key: str, generation: int, result) -> None:
        if self._latest.get(key) != generation:
            return  # superseded: never shown
        if key.startswith("image"):
            self._loading.discard(int(key[-1]))
        if isinstance(result, Environment):
            self.environment = result
            self.environment_ready.emit(result)
        elif isinstance(result, ModelReady):
            self._drop_automatic_crops()  # the new model decides its own automatic crops
            self.model = result
            self.model_changed.emit(result)
            self.message.emit(f"Model {result.info.name} ready on {result.device}", False)
            self.explain()
            self.find_similar()
        elif isinstance(result, ImageReady):
            self._set_image(int(key[-1]), result)
        elif isinstance(result, Explained):
            self._adopt_automatic_crops(result)
            self._set_explained(result)
            if not result.explanation.same_content:  # queued after the maps were handed over: never delays them
                self._submit("faithfulness", "faithfulness", label="Measuring the maps' faithfulness…",
                             explained=result)
        elif isinstance(result, Faithful):
            if result.explained is self.explained:
                self.faithfulness = result.curves
                self.faithfulness_changed.emit(result.curves)
        elif isinstance(result, SimilarFound):
            self.similar = result
            self.similar_found.emit(result)
        elif isinstance(result, Exported):
            self.exported.emit(result)
            self.message.emit(f"Report saved: {result.png} (+ {result.sidecar})", False)

    @Slot(str, int, str)
    def _on_started(self, _key: str, _generation: int, label: str) -> None:
        self.busy_changed.emit(True, label)

    @Slot(str, int, int)
    def _on_progress(self, key: str, done: int, total: int) -> None:
        if key == "similar":
            self.similar_progress.emit(done, total)

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self.busy_changed.emit(busy, "Working…" if busy else "")

    @Slot(str, int, str)
    def _on_errored(self, key: str, generation: int, text: str) -> None:
        if self._latest.get(key) != generation:
            return
        if key.startswith("image"):
            self._loading.discard(int(key[-1]))
            if self.explained is None:
                self.explain()  # the other image of a dropped pair may have arrived meanwhile
        if key == "model" and self.model is None and self._model_request != (None, "auto"):
            self.message.emit(f"{text}; falling back to the default model", True)
            self.load_model(None, "auto")
            return
        prefix = {"model": "Model not changed", "explain": "Explanation failed", "export": "Report not saved",
                  "similar": "Similar cases not found", "faithfulness": "Faithfulness not measured"}
        self.message.emit(f"{prefix[key]}: {text}" if key in prefix else text, True)

    # --- helpers -----------------------------------------------------------------------------------
    def _submit(self, key: str, kind: str, label: str, **args) -> None:
        generation = next(self._counter)
        self._latest[key] = generation
        if kind == "load_model":
            self._model_request = (args["path"], args["device"])
        self.runner.submit(Job(key, generation, kind, args, label))

    def _set_image(self, index: int, ready: ImageReady) -> None:
        self.images[index] = ready.image
        self.qimages[index] = ready.qimage
        self.crops[index] = self._pending_crops.pop(index, None)
        self.auto_boxes[index] = None
        self.provenance[index] = self._hit_request if index == 1 else None
        self._hit_request = None
        self.history.clear()
        self.history_changed.emit(False, False)
        self.image_changed.emit(index)
        self.explain()
        if index == 0:
            self.find_similar()

    def _adopt_automatic_crops(self, explained: Explained) -> None:
        """Show the model's automatic box as the slot's crop. Not an edit: no history entry and no re-explain,
        since explaining with that box as the crop gives the same result."""
        for slot in SLOTS:
            box = explained.explanation.crops[slot]
            if self.crops[slot] is None and box is not None:
                self.auto_boxes[slot] = tuple(box)
                self.crops[slot] = tuple(box)
                self.image_changed.emit(slot)

    def _drop_automatic_crops(self) -> None:
        dropped = [slot for slot in SLOTS if self.auto_boxes[slot] is not None
                   and (self.is_automatic(slot) or self.crops[slot] == self._whole_image(slot))]
        self.auto_boxes = [None, None]
        for slot in dropped:
            self.crops[slot] = None
            self.image_changed.emit(slot)
        if dropped:  # undo must not bring back a box the new model would not have chosen
            self.history.clear()
            self.history_changed.emit(False, False)

    def _whole_image(self, slot: int) -> tuple | None:
        image = self.images[slot]
        return None if image is None else (0, 0, *image.original_size)

    def _crops_changed(self, slots) -> None:
        self.history_changed.emit(self.history.can_undo, self.history.can_redo)
        for slot in slots:
            self.image_changed.emit(slot)
        self.explain()
        if 0 in slots:
            self.find_similar()

    def _restore(self, state: tuple | None) -> None:
        if state is None:
            return
        changed = [slot for slot in SLOTS if self.crops[slot] != state[slot]]
        self.crops = list(state)
        self._crops_changed(changed)

    def _set_explained(self, explained: Explained | None) -> None:
        if explained is None and self.explained is None:
            return
        self.explained = explained
        if self.faithfulness is not None or explained is None:
            self.faithfulness = None
            self._latest.pop("faithfulness", None)
            self.runner.cancel("faithfulness")
            self.faithfulness_changed.emit(None)
        self.explanation_changed.emit(explained)
