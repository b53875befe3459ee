"""The review state and its rules, without widgets: the model, the two images, their crops (with undo/redo), the
method and the current explanation. Views call its methods and redraw from the values its signals carry; the
work itself goes as gui.jobs.tasks functions to the runner it is given (gui.jobs.runner.JobRunner: the app's thread,
or a SyncRunner in tests of these rules).

Problems are reported per source ("model", "image 1", "explain", ...) and withdrawn when that source next
succeeds, so an old error never stays on screen beside a later success.
"""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QObject, Signal

from ..jobs import tasks
from ..jobs.runner import JobRunner
from ..jobs.tasks import Environment, Explained, Exported, ExportRequest, ImageReady, ModelReady
from .history import CropHistory
from .layers import SLOTS
from .problems import Problems

ERROR_PREFIX = {"model": "Model not changed", "explain": "Explanation failed", "export": "Report not saved",
                "faithfulness": "Faithfulness not measured",
                "refine": "Maps not refined"}


def image_source(slot: int) -> str:
    return f"image {slot + 1}"


NOTHING_TO_EXPORT = "Nothing to export yet: load and explain a pair first"


class ReviewSession(QObject):
    environment_ready = Signal(object)  # Environment
    model_changed = Signal(object)  # ModelReady
    image_changed = Signal(int, object)  # slot, ImageReady or None
    crop_changed = Signal(int, object, bool)  # slot, (x, y, w, h) or None, whether it is the model's automatic box
    method_changed = Signal(str)
    explanation_changed = Signal(object)  # Explained, or None when the shown maps no longer apply
    faithfulness_changed = Signal(object)  # deletion/insertion curves of the shown maps, or None
    history_changed = Signal(bool, bool)  # can undo, can redo
    exported = Signal(object)  # Exported
    error = Signal(str, str)  # source, one-line message
    error_cleared = Signal(str)  # source whose last problem no longer applies
    info = Signal(str)  # a passing confirmation ("Report saved: ...")
    shown_anyway_changed = Signal(bool)  # the reviewer's "show anyway" of a not-assessed pair, or its reset

    def __init__(self, runner: JobRunner, problems: Problems | None = None, method: str = tasks.DEFAULT_METHOD):
        super().__init__()
        self.runner = runner
        self.problems = problems if problems is not None else Problems()  # the app's one, injected
        self.method = method if method in tasks.METHODS else tasks.DEFAULT_METHOD
        self.environment: Environment | None = None
        self.model: ModelReady | None = None
        self.images: list[ImageReady | None] = [None, None]
        self.crops: list[tuple | None] = [None, None]
        # The model's automatic lesion box per slot, once an explanation has found it; a crop equal to it is
        # "automatic" (the reviewer can still adjust it, clear it to the whole image, and undo).
        self.auto_boxes: list[tuple | None] = [None, None]
        self.provenance: list[dict | None] = [None, None]  # where a slot's image came from (similar cases)
        self.explained: Explained | None = None
        self.faithfulness: dict | None = None
        # The reviewer chose "show anyway" for this not-assessed pair: its report then draws the maps and says so.
        self.shown_anyway = False
        self.history = CropHistory()
        self._pending: dict[int, tuple] = {}  # slot -> (crop, provenance) to apply when its image arrives
        self._model_request: tuple[str | None, str] = (None, tasks.DEFAULT_DEVICE)

    # --- problems ------------------------------------------------------------------------------------
    def _report(self, source: str, text: str) -> None:
        """A problem of the session's own `source` ("image 1", "explain", ...), kept in the problems model until
        withdrawn; `error` tells listeners (the screenshot mode) as it happens."""
        self.problems.report(source, text)
        self.error.emit(source, text)

    def _withdraw(self, source: str) -> None:
        """`source` has since succeeded: its last problem no longer applies."""
        self.problems.clear(source)
        self.error_cleared.emit(source)

    # --- model ---------------------------------------------------------------------------------------
    def start(self, model_path: str | None, device: str) -> None:
        self.runner.submit("environment", tasks.environment, label="Starting…", on_result=self._environment)
        self.load_model(model_path, device)

    def load_model(self, path: str | None, device: str | None = None) -> None:
        device = device or (self.model.requested_device if self.model else tasks.DEFAULT_DEVICE)
        self._model_request = (path, device)
        self.runner.submit("model", tasks.load_model, path, device, label=f"Loading {path or 'the default model'} "
                           f"on {device}…", on_result=self._model_ready, on_error=self._model_failed)

    def set_device(self, device: str) -> None:
        self.load_model(self.model.path if self.model else None, device)

    # --- images and crops ----------------------------------------------------------------------------
    def open_image(self, slot: int, source, crop: tuple | None = None, provenance: dict | None = None) -> None:
        """source: a file path, or a PIL image (pasted). The crop and provenance apply once it has arrived."""
        source = source if isinstance(source, Image.Image) else str(source)
        self._pending[slot] = (tuple(crop) if crop else None, provenance)
        self.runner.cancel("refine")  # of the pair being replaced: the runner must load the new image first
        self.runner.cancel("faithfulness")
        self.runner.submit(("image", slot), tasks.load_image, source, label=f"Loading {image_source(slot)}…",
                           on_result=lambda ready: self._image_ready(slot, ready),
                           on_error=lambda text: self._image_failed(slot, text))

    def open_paths(self, paths: list[str], slot: int | None = None) -> None:
        """Dropped or opened files: two fill both slots; one goes to `slot`, else to the first empty slot."""
        if len(paths) == 2:
            self._expect(SLOTS)
            for each, path in zip(SLOTS, paths, strict=True):
                self.open_image(each, path)
            return
        if slot is None:
            empty = [each for each in SLOTS if self.images[each] is None]
            if not empty:
                self._report("drop", "Drop a single image onto the viewer whose image it should replace")
                return
            slot = empty[0]
        self.open_image(slot, paths[0])

    def open_pair(self, paths, crops=(None, None)) -> None:
        """Load both images (a worklist case) with the crops they were reviewed with."""
        self._expect(SLOTS)
        for slot in SLOTS:
            self.open_image(slot, str(paths[slot]), crop=crops[slot])

    def swap(self) -> None:
        for state in (self.images, self.crops, self.auto_boxes, self.provenance):
            state.reverse()
        self.history.swap()
        for slot in SLOTS:
            self.image_changed.emit(slot, self.images[slot])
            self._emit_crop(slot)
        self.explain()

    def set_crop(self, slot: int, box: tuple | None) -> None:
        box = tuple(box) if box else None
        if self.images[slot] is None or self.crops[slot] == box:
            return
        problem = tasks.crop_problem(box) if box else ""
        if problem:  # refused here, before it enters the undo history
            self._report("crop", f"Crop of {image_source(slot)} not applied: {problem}")
            return
        self._withdraw("crop")
        self.history.push(tuple(self.crops))
        self.crops[slot] = box
        self._crops_changed((slot,))

    def reset_crops(self) -> None:
        """Clear the crops: the whole images are explained, even by a model that crops automatically."""
        cleared = [self._whole_image(slot) if self.auto_boxes[slot] else None for slot in SLOTS]
        if cleared != self.crops:
            self.history.push(tuple(self.crops))
            changed = [slot for slot in SLOTS if self.crops[slot] != cleared[slot]]
            self.crops = cleared
            self._crops_changed(changed)

    def is_automatic(self, slot: int) -> bool:
        return self.crops[slot] is not None and self.crops[slot] == self.auto_boxes[slot]

    def undo(self) -> None:
        self._restore(self.history.undo(tuple(self.crops)))

    def redo(self) -> None:
        self._restore(self.history.redo(tuple(self.crops)))

    # --- explanation -----------------------------------------------------------------------------------
    def set_method(self, method: str) -> None:
        if method in tasks.METHODS and method != self.method:
            self.method = method
            self.method_changed.emit(method)
            self.explain()

    def next_method(self) -> None:
        self.set_method(tasks.METHODS[(tasks.METHODS.index(self.method) + 1) % len(tasks.METHODS)])

    def loading(self) -> bool:  # an image is still on its way: the pair shown is not yet the pair asked for
        return bool(self._pending) or any(self.runner.is_pending(("image", slot)) for slot in SLOTS)

    def _expect(self, slots) -> None:
        """Both images of a pair are on their way before either is asked for: the first to arrive never makes a
        pair with the other slot's old image, whatever order the runner answers in."""
        for slot in slots:
            self._pending.setdefault(slot, (None, None))

    def explain(self) -> None:
        """(Re-)explain the current pair; any explanation in flight is superseded."""
        self._set_explained(None)
        if None in self.images or self.loading() or self.model is None:
            self.runner.cancel("explain")
            return
        images = tuple(ready.image for ready in self.images if ready is not None)
        self.runner.submit("explain", tasks.explain, images, tuple(self.crops), self.method,
                           label=f"Explaining the pair ({self.method})…", on_result=self._explained,
                           on_error=lambda text: self._failed("explain", text))

    def export(self, path: str, colormaps: dict, layers, note: str, overwrite: bool, record=None,
               reviewer_verdict: str | None = None) -> bool:
        request = self.export_request(path, colormaps, layers, note, overwrite, record, reviewer_verdict)
        if request is None:
            return False
        self.runner.submit("export", tasks.export, request, label="Writing the report…", on_result=self._exported,
                           on_error=lambda text: self._failed("export", text))
        return True

    def export_request(self, path: str, colormaps: dict, layers, note: str, overwrite: bool, record=None,
                       reviewer_verdict: str | None = None) -> ExportRequest | None:
        """The report of the pair as shown (also what a store to PACS writes); None, with the problem said, when
        nothing is explained."""
        if self.explained is None:
            self._report("export", NOTHING_TO_EXPORT)
            return None
        return ExportRequest(path, self.explained, dict(colormaps), tuple(layers), note, overwrite,
                             tuple(self.provenance), self.faithfulness, record, reviewer_verdict, self.shown_anyway)

    def set_shown_anyway(self, on: bool) -> None:
        """The reviewer's "show anyway" on the shown pair (reset with each new explanation)."""
        on = bool(on) and self.explained is not None
        if on != self.shown_anyway:
            self.shown_anyway = on
            self.shown_anyway_changed.emit(on)

    def not_assessed(self) -> bool:
        """The shown pair is not assessed (an image outside the model's domain): its score and maps are withheld
        unless the reviewer shows them anyway (core.trust.verdict.withholds, the score panel's rule too)."""
        e = self.explained.explanation if self.explained is not None else None
        return e is not None and tasks.withholds(e.verdict, e.in_domain)

    def export_sr(self, path: str, overwrite: bool) -> bool:
        """The pair's measurements as a DICOM SR (gui.jobs.tasks.export_sr), on the runner."""
        if self.explained is None:
            self._report("export", NOTHING_TO_EXPORT)
            return False
        self.runner.submit("export-sr", tasks.export_sr, path, self.explained, overwrite,
                           label="Writing the measurement SR…",
                           on_result=self._sr_saved,
                           on_error=lambda text: self._failed("export", text))
        return True

    # --- results ---------------------------------------------------------------------------------------
    def _sr_saved(self, written: str) -> None:
        self._withdraw("export")
        self.info.emit(f"SR saved: {written}")

    def _environment(self, env: Environment) -> None:
        self.environment = env
        self.environment_ready.emit(env)

    def _model_ready(self, ready: ModelReady) -> None:
        self._drop_automatic_crops()  # the new model decides its own automatic crops
        self.model = ready
        self._withdraw("model")
        self.model_changed.emit(ready)
        self.info.emit(f"Model {ready.info.name} ready on {ready.device}")
        self.explain()

    def _model_failed(self, text: str) -> None:
        if self.model is None and self._model_request != (None, tasks.DEFAULT_DEVICE):
            self._report("model", f"{text}; falling back to the default model")
            self.load_model(None, tasks.DEFAULT_DEVICE)
            return
        self._failed("model", text)
        if self.model is not None:
            self.model_changed.emit(self.model)  # views showing the refused choice go back to the model in use

    def _image_ready(self, slot: int, ready: ImageReady) -> None:
        crop, provenance = self._pending.pop(slot, (None, None))
        self.images[slot] = ready
        self.crops[slot] = crop
        self.auto_boxes[slot] = None
        self.provenance[slot] = provenance
        self.history.clear()
        self.history_changed.emit(False, False)
        self._withdraw(image_source(slot))
        self.image_changed.emit(slot, ready)
        self._emit_crop(slot)
        self.explain()

    def _image_failed(self, slot: int, text: str) -> None:
        self._pending.pop(slot, None)
        self._report(image_source(slot), text)
        if self.explained is None:
            self.explain()  # the other image of a dropped pair may have arrived meanwhile
        elif self.faithfulness is None:
            self._refine_or_measure(self.explained)  # open_image cancelled them for a pair that stays after all

    def _explained(self, explained: Explained) -> None:
        self._adopt_automatic_crops(explained)
        self._withdraw("explain")
        self._set_explained(explained)
        self._refine_or_measure(explained)  # queued after the maps were handed over: never delays them

    def _refine_or_measure(self, explained: Explained) -> None:
        """The default method's first maps are replaced in the background by the more faithful refinement
        (docs/explanations.md), and the faithfulness check then judges the maps shown: the refined ones."""
        if tasks.refines(explained, self.method):
            self.runner.submit("refine", tasks.refine, explained, label="Refining the maps…",
                               on_result=lambda better: self._refined(explained, better),
                               on_error=lambda text: self._unrefined(explained, text))
        else:
            self._measure(explained)

    def _refined(self, first: Explained, refined: Explained) -> None:
        self._withdraw("refine")
        if first is self.explained:
            self._set_explained(refined)
            self._measure(refined)

    def _unrefined(self, first: Explained, text: str) -> None:
        self._failed("refine", text)
        if first is self.explained:
            self._measure(first)  # the first maps stay: they are checked instead

    def _measure(self, explained: Explained) -> None:
        if not explained.explanation.same_content:
            self.runner.submit("faithfulness", tasks.faithfulness, explained,
                               label="Measuring the maps' faithfulness…",
                               on_result=lambda curves: self._faithful(explained, curves),
                               on_error=lambda text: self._failed("faithfulness", text))

    def _faithful(self, explained: Explained, curves: dict) -> None:
        if explained is self.explained:
            self.faithfulness = curves
            self.faithfulness_changed.emit(curves)

    def _exported(self, exported: Exported) -> None:
        self._withdraw("export")
        self.exported.emit(exported)
        self.info.emit(f"Report saved: {exported.png} (+ {exported.sidecar})")

    def _failed(self, source: str, text: str) -> None:
        self._report(source, f"{ERROR_PREFIX[source]}: {text}" if source in ERROR_PREFIX else text)

    # --- helpers ---------------------------------------------------------------------------------------
    def _adopt_automatic_crops(self, explained: Explained) -> None:
        """Show the model's automatic box as the slot's crop. Not an edit: no history entry and no re-explain,
        since explaining with that box as the crop gives the same result."""
        for slot in SLOTS:
            box = explained.explanation.crops[slot]
            if self.crops[slot] is None and box is not None:
                self.auto_boxes[slot] = self.crops[slot] = tuple(box)
                self._emit_crop(slot)

    def _drop_automatic_crops(self) -> None:
        dropped = [slot for slot in SLOTS if self.auto_boxes[slot] is not None
                   and (self.is_automatic(slot) or self.crops[slot] == self._whole_image(slot))]
        self.auto_boxes = [None, None]
        for slot in dropped:
            self.crops[slot] = None
            self._emit_crop(slot)
        if dropped:  # undo must not bring back a box the new model would not have chosen
            self.history.clear()
            self.history_changed.emit(False, False)

    def _whole_image(self, slot: int) -> tuple | None:
        ready = self.images[slot]
        return None if ready is None else (0, 0, *ready.image.original_size)

    def _emit_crop(self, slot: int) -> None:
        self.crop_changed.emit(slot, self.crops[slot], self.is_automatic(slot))

    def _crops_changed(self, slots) -> None:
        self.history_changed.emit(self.history.can_undo, self.history.can_redo)
        for slot in slots:
            self._emit_crop(slot)
        self.explain()

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
        self.set_shown_anyway(False)  # revealing a not-assessed pair is a choice per pair
        self.runner.cancel("refine")  # of maps no longer shown
        if self.faithfulness is not None or explained is None:
            self.faithfulness = None
            self.runner.cancel("faithfulness")
            self.faithfulness_changed.emit(None)
        self.explanation_changed.emit(explained)
