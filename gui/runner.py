"""The one place that runs core's model code: a ModelRunner QObject living on its own QThread.

The GUI posts Jobs. Each names the view it feeds (`key`) and carries a generation number; a queued job whose key
has since received a newer job is skipped, so only the latest request per view costs time (the presenter drops
any stale result that was already running). Every job ends in `returned` or `errored`; an exception never
reaches Qt and the runner takes the next job. core, and torch with it, is imported here, on the runner's thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from .qimage import pil_to_qimage


@dataclass(frozen=True)
class Job:
    key: str  # the view the result feeds: "environment", "model", "image0", "image1", "explain", "export"
    generation: int
    kind: str  # names a ModelRunner._job_<kind> method
    args: dict = field(default_factory=dict)
    label: str = ""  # what the busy indicator says while it runs


@dataclass(frozen=True)
class Environment:
    """What the GUI needs from core that only exists once core is imported."""

    app_name: str
    version: str
    colormaps: tuple[str, ...]
    methods: tuple[str, ...]
    shipped_models: tuple[str, ...]
    weights_dir: str
    icon: str
    method_help: dict = field(default_factory=dict)  # method -> one line (tooltips)


@dataclass(frozen=True)
class ModelReady:
    info: Any  # core.model.ModelInfo
    device: str  # where it runs, e.g. "cpu" or "cuda:0"
    requested_device: str  # "auto", "cpu" or "cuda"
    path: str | None  # None: the shipped default


@dataclass(frozen=True)
class ImageReady:
    image: Any  # core.images.LoadedImage, uncropped
    qimage: Any  # QImage of it, converted here rather than on the GUI thread


@dataclass(frozen=True)
class Explained:
    explanation: Any  # core.explain.Explanation
    images: tuple  # the two cropped LoadedImage objects that were explained
    model: Any  # ModelInfo of the model that explained them


@dataclass(frozen=True)
class Faithful:
    """Deletion/insertion curves of an explanation's factual maps (core.faithfulness), computed after the maps
    are shown, in a job of their own."""

    explained: Any  # the Explained they belong to
    curves: dict


@dataclass(frozen=True)
class SimilarFound:
    query: str | None  # path of the query image (image 1)
    gallery: str
    hits: tuple  # dicts: rank, path, label, similarity, qimage (thumbnail)
    vote: str | None  # e.g. "7 of 10 nearest are malignant"
    indexed: int  # images in the gallery's index
    interrupted: bool  # the index update was cancelled: hits come from the images indexed so far


@dataclass(frozen=True)
class Exported:
    png: str
    sidecar: str


class ModelRunner(QObject):
    """Owns the model and its device; call start() once, submit() jobs, stop() before the app exits."""

    started = Signal(str, int, str)  # key, generation, label
    returned = Signal(str, int, object)  # key, generation, result
    errored = Signal(str, int, str)  # key, generation, one-line message
    busy = Signal(bool)  # True when the first job is queued, False when the queue runs dry
    progress = Signal(str, int, int)  # key, done, total: long jobs report how far they are
    _posted = Signal(object)

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self._latest: dict[str, int] = {}
        self._pending = 0
        self._model = None
        self._running_key: str | None = None
        self._stop = threading.Event()  # set by cancel() to interrupt the running job, if it checks
        self._thread = QThread()
        self._thread.setObjectName("model-runner")
        self.moveToThread(self._thread)
        self._posted.connect(self._run, Qt.QueuedConnection)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish the job in progress, drop the queue, end the thread."""
        with self._lock:
            self._latest.clear()
        self._thread.quit()
        self._thread.wait()

    def submit(self, job: Job) -> None:
        with self._lock:
            self._latest[job.key] = job.generation  # generations only grow: this one supersedes the rest
            self._pending += 1
            first = self._pending == 1
        if first:
            self.busy.emit(True)
        self._posted.emit(job)

    def cancel(self, key: str) -> None:
        """Skip any queued job for `key`; a running one stops at its next check (long jobs check often)."""
        with self._lock:
            self._latest.pop(key, None)
            if self._running_key == key:
                self._stop.set()

    @Slot(object)
    def _run(self, job: Job) -> None:
        try:
            with self._lock:
                current = self._latest.get(job.key) == job.generation
            if not current:
                return  # superseded while queued
            with self._lock:
                self._running_key = job.key
                self._stop.clear()
            self.started.emit(job.key, job.generation, job.label)
            try:
                result = getattr(self, f"_job_{job.kind}")(**job.args)
            except Exception as exc:  # the runner must survive anything a job raises
                self.errored.emit(job.key, job.generation, one_line(exc))
            else:
                self.returned.emit(job.key, job.generation, result)
        finally:
            with self._lock:
                self._running_key = None
                self._pending -= 1
                idle = self._pending == 0
            if idle:
                self.busy.emit(False)

    # --- jobs (run on the runner thread) -------------------------------------------------------------
    def _job_environment(self) -> Environment:
        from core.methods import METHODS, REGISTRY
        from core.overlay import COLORMAPS
        from core.paths import resources_dir, shipped_models, weights_dir
        from core.version import APP_NAME, __version__

        return Environment(APP_NAME, __version__, tuple(COLORMAPS), tuple(METHODS),
                           tuple(str(p) for p in shipped_models()), str(weights_dir()),
                           str(resources_dir() / "icons" / "siamese-lens.png"),
                           {name: method.help for name, method in REGISTRY.items()})

    def _job_load_model(self, path: str | None, device: str) -> ModelReady:
        import core
        from core.model import describe
        from core.device import resolve_device

        torch_device = resolve_device(device)
        model = core.load_model(path, device=torch_device)
        self._model = model  # replaced only on success: after an error the previous model stays
        return ModelReady(describe(model), str(torch_device), device, path)

    def _job_load_image(self, source) -> ImageReady:
        import core
        from core.images import from_pil

        loaded = core.load_image(source) if isinstance(source, str) else from_pil(source)
        return ImageReady(loaded, pil_to_qimage(loaded.image))

    def _job_explain(self, images: tuple, crops: tuple, method: str) -> Explained:
        import core
        from core.explain import explained_images
        from core.images import from_pil
        from core.model import describe

        if self._model is None:
            raise RuntimeError("no model is loaded")
        cropped = tuple(from_pil(img.image, crop=crop, path=img.path) for img, crop in zip(images, crops))
        explanation = core.explain_pair(self._model, cropped[0], cropped[1], method)
        return Explained(explanation, explained_images(cropped, explanation), describe(self._model))

    def _job_faithfulness(self, explained: Explained) -> Faithful:
        from core.faithfulness import faithfulness

        if self._model is None:
            raise RuntimeError("no model is loaded")
        return Faithful(explained, faithfulness(self._model, [image.image for image in explained.images],
                                                explained.explanation))

    def _job_similar(self, gallery: str, image, crop, k: int) -> SimilarFound:
        """Bring the gallery's index up to date for the current model (cancellable, with progress), then find
        the k cases nearest to `image` (image 1, seen as the model explains it: the reviewer's crop, else the
        model's automatic one)."""
        from core.gallery import build_index, nearest_cases
        from core.images import from_pil

        if self._model is None:
            raise RuntimeError("no model is loaded")
        index, counts = build_index(self._model, gallery, progress=lambda done, total: self.progress.emit(
            "similar", done, total), should_stop=self._stop.is_set)
        if not index.entries:
            return SimilarFound(image.path, gallery, (), None, 0, counts["interrupted"])
        hits, summary = nearest_cases(self._model, index, from_pil(image.image, crop=crop, path=image.path), k)
        for hit in hits:
            hit["qimage"] = _thumbnail(hit["path"])
        return SimilarFound(image.path, gallery, tuple(hits), summary, len(index.entries), counts["interrupted"])

    def _job_export(self, path: str, explained: Explained, colormap: str, layers, note: str,
                    overwrite: bool, provenance: tuple = (None, None), faithfulness: dict | None = None) -> Exported:
        from core.report import write_report

        png, sidecar = write_report(path, explained.explanation, explained.images, explained.model,
                                    colormap=colormap, layers=layers, note=note, overwrite=overwrite,
                                    provenance=provenance, faithfulness=faithfulness)
        return Exported(str(png), str(sidecar))


def _thumbnail(path: str, size: int = 96):
    from core.images import load_image

    try:
        image = load_image(path).image
    except Exception:  # a hit whose file vanished or broke since indexing shows no picture, not an error
        return None
    image.thumbnail((size, size))
    return pil_to_qimage(image)


def one_line(exc: BaseException) -> str:
    """Product errors carry their own one-line message; anything else gets its type name in front."""
    from core.errors import SiameseLensError
    from core.files import first_line

    text = first_line(exc, 300) if str(exc).strip() else ""
    if isinstance(exc, (SiameseLensError, FileExistsError, ValueError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
