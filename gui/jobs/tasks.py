"""The workstation's one door into core: plain functions that the runner calls on its thread, their typed
results, and the few torch-free core names the GUI thread needs.

No other gui module imports core. Importing this module does not import torch (the window must appear before
torch has loaded): every task imports what it needs from core when it first runs, on the runner's thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable

# Torch-free core names the GUI thread uses, re-exported so that the rest of gui never imports core.
from core.errors import SiameseLensError
from core.explain.overlay import TOP_SHARE, colour_ramp, rgba_layer, top_contours  # cv2 and numpy only
from core.explain.refine import method_words  # numpy only until a refinement runs
from core.followup.measurements import read_pixel_size, shown_figure  # cv2 and numpy only
from core.followup.visits import scale_words  # cv2 and numpy only
from core.io.files import counted, file_sha256, first_line, printable
from core.io.image_files import file_dialog_filter, not_an_image  # numpy only
from core.io.images import crop_problem  # Pillow and numpy only
from core.model.device import cuda_unsupported, device_choices
from core.pacs.images import image_facts, study_images  # stdlib only
from core.pacs.transfer import PREVIEW_SIZE as PACS_PREVIEW_SIZE  # stdlib only until a transfer runs
from core.review.case_record import CaseRecord, check_date, check_text, from_images  # stdlib only
from core.review.followup_report import difference_image  # cv2, numpy and Pillow only
from core.review.worklist import Worklist  # sqlite only
from core.trust.checks import (  # numpy only
    INCONCLUSIVE,
    INCONCLUSIVE_MARK,
    UNCHECKED_MARK,
    UNFAITHFUL,
    UNFAITHFUL_MARK,
    check_verdict,
    faithfulness_text,
)
from core.trust.verdict import COLOURS as VERDICT_COLOURS  # numpy only
from core.trust.verdict import MEANING as VERDICT_MEANING
from core.trust.verdict import NOT_ASSESSED, band_of, shown_probability, withholds
from core.vocabulary import (
    COLORMAPS,
    DEFAULT_DEVICE,
    DEFAULT_LAYER_COLORMAPS,
    DEFAULT_LAYER_STATE,
    DEFAULT_METHOD,
    DISCLAIMER,
    LAYER_TITLES,
    LAYERS,
    METHODS,
)

from .qimage import pil_to_qimage

__all__ = [
    # re-exported core names
    "COLORMAPS", "DEFAULT_DEVICE", "DEFAULT_LAYER_COLORMAPS", "DEFAULT_LAYER_STATE", "DEFAULT_METHOD", "DISCLAIMER",
    "LAYER_TITLES", "LAYERS", "METHODS", "SiameseLensError", "crop_problem", "Worklist", "colour_ramp",
    "cuda_unsupported", "device_choices", "faithfulness_text", "check_verdict", "UNFAITHFUL_MARK", "UNCHECKED_MARK",
    "INCONCLUSIVE_MARK", "INCONCLUSIVE", "UNFAITHFUL",
    "rgba_layer", "top_contours", "TOP_SHARE", "VERDICT_COLOURS",
    "VERDICT_MEANING", "difference_image", "CaseRecord", "check_date", "check_text", "from_images",
    "file_dialog_filter", "not_an_image", "counted", "printable", "file_sha256", "read_pixel_size", "shown_figure",
    "scale_words",
    "NOT_ASSESSED", "withholds", "band_of", "shown_probability", "PACS_PREVIEW_SIZE",
    "image_facts", "study_images", "method_words",
    # the workspace, typed results and tasks
    "Workspace", "Environment", "ModelReady", "ImageReady", "Explained", "SimilarFound", "Exported", "ExportRequest",
    "environment", "load_model", "load_image", "explain", "links", "followup", "export_followup", "faithfulness",
    "FollowupMaps", "followup_maps",
    "refines", "refine",
    "similar", "export", "one_line", "pacs_find", "pacs_pull", "pacs_preview", "store_followup", "export_sr",
    "store_pair", "dicom_pair",
]


class Workspace:
    """What tasks share on the runner thread: the loaded model, and the running task's cancel flag and progress."""

    def __init__(self):
        self.model = None
        self.stop = threading.Event()
        self.report_progress: Callable[[int, int], None] = lambda done, total: None

    def require_model(self):
        if self.model is None:
            raise RuntimeError("no model is loaded")
        return self.model


# --- typed results --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Environment:
    """What the GUI needs from core that only exists once core is imported."""

    app_name: str
    version: str
    shipped_models: tuple[str, ...]
    weights_dir: str
    icon: str
    method_help: dict = field(default_factory=dict)  # method -> one line (tooltips)


@dataclass(frozen=True)
class ModelReady:
    info: Any  # core.model.network.ModelInfo
    device: str  # where it runs, e.g. "cpu" or "cuda:0"
    requested_device: str  # "auto", "cpu" or "cuda"
    path: str | None  # None: the shipped default


@dataclass(frozen=True)
class ImageReady:
    image: Any  # core.io.images.LoadedImage, uncropped
    qimage: Any  # QImage of it, converted here rather than on the GUI thread


@dataclass(frozen=True)
class Explained:
    explanation: Any  # core.explain.pair.Explanation
    images: tuple  # the two cropped LoadedImage objects that were explained
    model: Any  # ModelInfo of the model that explained them


@dataclass(frozen=True)
class SimilarFound:
    query: str | None  # path of the query image (image 1)
    gallery: str
    hits: tuple  # dicts: rank, path, label, similarity, qimage (thumbnail)
    vote: str | None  # e.g. "7 of the 10 nearest-looking known cases are labelled malignant (...)"
    indexed: int  # images in the gallery's index
    interrupted: bool  # the index update was cancelled: hits come from the images indexed so far
    # what was set apart: the query's own content in the gallery, folded near-duplicates, where a read-only
    # gallery's index is kept (core.review.neighbours, core.review.gallery.index_note)
    notes: tuple = ()


@dataclass(frozen=True)
class Exported:
    png: str
    sidecar: str


@dataclass(frozen=True)
class ExportRequest:
    """A report as the reviewer sees the pair: the layers as shown, the note as typed."""

    path: str
    explained: Explained
    colormaps: dict  # layer name -> colormap
    layers: tuple  # per image: {layer name: opacity, 0 when hidden}
    note: str
    overwrite: bool
    provenance: tuple = (None, None)
    faithfulness: dict | None = None
    record: CaseRecord | None = None  # as typed
    reviewer_verdict: str | None = None  # the worklist reviewer's agree/disagree
    shown_anyway: bool = False  # the reviewer chose to see a not-assessed pair's score and maps


# --- tasks (run on the runner thread) ----------------------------------------------------------------------------
def environment(_ws: Workspace) -> Environment:
    from core.explain.methods import REGISTRY
    from core.paths import resources_dir, shipped_models, weights_dir
    from core.version import APP_NAME, __version__

    return Environment(APP_NAME, __version__, tuple(str(p) for p in shipped_models()), str(weights_dir()),
                       str(resources_dir() / "icons" / "siamese-lens.png"),
                       {name: method.help for name, method in REGISTRY.items()})


def load_model(ws: Workspace, path: str | None, device: str) -> ModelReady:
    import core
    from core.model.device import resolve_device
    from core.model.network import describe

    torch_device = resolve_device(device)
    model = core.load_model(path, device=torch_device)
    ws.model = model  # replaced only on success: after an error the previous model stays
    return ModelReady(describe(model), str(torch_device), device, path)


def load_image(_ws: Workspace, source) -> ImageReady:
    """source: a file path, or a PIL image (pasted)."""
    import core
    from core.io.images import from_pil

    loaded = core.load_image(source) if isinstance(source, str) else from_pil(source)
    return ImageReady(loaded, pil_to_qimage(loaded.image))


def explain(ws: Workspace, images: tuple, crops: tuple, method: str) -> Explained:
    import core
    from core.explain.pair import explained_images
    from core.io.images import with_crop
    from core.model.network import describe

    model = ws.require_model()
    cropped = tuple(with_crop(img, crop) for img, crop in zip(images, crops, strict=True))
    explanation = core.explain_pair(model, cropped[0], cropped[1], method)
    return Explained(explanation, explained_images(cropped, explanation), describe(model))


def links(ws: Workspace, explained: Explained, k: int):
    """core.explain.correspondence.analyse of a pair already explained (its images carry the boxes the maps
    covered): the K strongest links, in each image's own pixels, and the whole cell-pair matrix."""
    from core.explain.correspondence import analyse
    from core.explain.pair import model_view

    model = ws.require_model()
    return analyse(model, [model_view(model, image) for image in explained.images], k)


def followup(ws: Workspace, images: tuple, method: str, mode: str = "auto", pixel_size_mm: float | None = None):
    """core.followup.visits.followup of the pair as loaded (image 1 the baseline, image 2 the later visit); visits
    of different patients (DICOM) refused (core.followup.history.check_same_patient)."""
    from core.followup.history import check_same_patient
    from core.followup.visits import followup as follow_up

    check_same_patient(list(images))
    return follow_up(ws.require_model(), images[0], images[1], pixel_size_mm=pixel_size_mm, mode=mode, method=method,
                     should_stop=ws.stop.is_set)  # closing the window stops it between its stages


@dataclass(frozen=True)
class HistoryShown:
    """A lesion's history as the window shows it: core.followup.history.History, its JSON facts (`visits`), each
    visit's picture, outline and covered area on the baseline's grid (its own pixels when not registered), and the
    trend chart of area and diameter with their uncertainty (RGB)."""

    history: Any
    facts: dict
    pictures: tuple  # uint8 RGB per visit, the baseline first
    outlines: tuple  # bool mask or None per visit
    valid: tuple  # bool mask of the baseline area the visit covers, or None (all of it)
    trend: Any  # uint8 RGB

    @property
    def last(self):
        return self.history.last


def followup_history(ws: Workspace, paths: tuple, dates: tuple | None, method: str, mode: str = "auto",
                     pixel_size_mm: float | None = None) -> HistoryShown:
    """core.followup.history.follow_lesion of the images at `paths` (any order: sorted by date, the first the
    baseline); one line naming the file for one that cannot be read."""
    import numpy as np

    import core
    from core.followup.history import follow_lesion, history_facts
    from core.review.followup_report import trend_chart

    images = [core.load_image(path) for path in paths]
    history = follow_lesion(ws.require_model(), images, list(dates) if dates else None, pixel_size_mm, mode,
                            method=method, should_stop=ws.stop.is_set)
    facts = history_facts(history)
    first = history.comparisons[0]
    pictures, outlines, valid = [first.visits[0]], [first.masks[0]], [None]
    for compared in history.comparisons:
        pictures.append(compared.visits[1])
        outlines.append(compared.masks[1])
        valid.append(compared.valid)
    chart = np.asarray(trend_chart(facts["visits"], TREND_SIZE).convert("RGB"))
    return HistoryShown(history, facts, tuple(pictures), tuple(outlines), tuple(valid), chart)


TREND_SIZE = (560, 240)  # px of the trend chart drawn in the follow-up dock


def export_followup(ws: Workspace, path: str, result, record, note: str, overwrite: bool,
                    assessment: str = "", history_facts: dict | None = None, maps: FollowupMaps | None = None) -> str:
    """Write a follow-up's report (core.review.followup_report) and its JSON sidecar; the report's path. With a
    lesion's history (HistoryShown.facts), the report carries every visit and the trend chart, as the CLI's. The
    maps it draws are those the main view would show of the aligned pair: refined, then judged by the
    faithfulness check, its answer marked on them (`maps` when the window has them already, else followup_maps)."""
    from core.review.case_record import CaseRecord, from_images
    from core.review.followup_report import followup_report_facts, render
    from core.review.report import write_picture_and_facts

    maps = maps or followup_maps(ws, result)
    result = maps.result
    record = (record or CaseRecord()).merged(from_images(result.images))
    if history_facts:  # the report's two dates are the history's first and last visit's
        visits = history_facts["visits"]
        record = replace(record, acquired=(visits[0]["date"] or "", visits[-1]["date"] or ""))
    facts = followup_report_facts(result, ws.require_model(), record=record, note=note, assessment=assessment,
                                  faithfulness=maps.faithfulness)
    facts.update(history_facts or {})
    from core.io.dicom import report_filing

    return str(write_picture_and_facts(path, lambda: render(result, facts), facts, overwrite,
                                       report_filing(result.images, "follow-up", primary=1))[0])


@dataclass(frozen=True)
class FollowupMaps:
    """A follow-up (core.followup.visits.FollowUp) with its maps as its report draws them: refined as the main
    view refines a pair's, and the faithfulness check's curves of them (None: no maps to check: same content, or
    withheld, the pair not assessed)."""

    result: Any
    faithfulness: dict | None


def followup_maps(ws: Workspace, result) -> FollowupMaps:
    """The follow-up's maps refined and checked by the same core.explain.refine and core.explain.faithfulness the
    main view runs on a pair (through refine and faithfulness below): stoppable, with progress in the
    refinement's steps."""
    from core.explain.refine import refines as applies
    from core.model.network import describe

    e = result.explanation
    if e is None or e.same_content or withholds(e.verdict, e.in_domain):  # no maps drawn, nothing to check
        return FollowupMaps(result, None)
    explained = Explained(e, tuple(result.images), describe(ws.require_model()))
    if applies(e):
        explained = refine(ws, explained)
        result = replace(result, explanation=explained.explanation)
    return FollowupMaps(result, faithfulness(ws, explained))


def pacs_find(ws: Workspace, url: str, patient_id: str) -> list[dict]:
    """A patient's studies, series and instances on a PACS (core.pacs.transfer.find; credentials from the
    environment or the OS keyring, docs/pacs.md)."""
    from core.pacs.connection import open_pacs
    from core.pacs.transfer import find

    return find(open_pacs(url), patient_id)


def pacs_pull(ws: Workspace, url: str, patient_id: str, chosen: tuple[tuple[str, str], ...],
              folder: str) -> dict[str, tuple[str, ...]]:
    """Pull chosen images, (study uid, SOP instance uid) each (core.pacs.images), each study's into its own folder
    under `folder`, with progress and cancel, all or nothing; {study uid: its files}, ready to open as a pair or a
    follow-up."""
    import shutil
    from pathlib import Path

    from core.pacs.connection import open_pacs
    from core.pacs.transfer import pull

    pacs, pulled, made = open_pacs(url), {}, []
    try:
        for number, (study_uid, sop_uid) in enumerate(chosen, 1):
            made.append(Path(folder) / f"study{number}")
            files = pull(pacs, patient_id, made[-1], study_uid=study_uid, image=sop_uid, overwrite=True,
                         progress=ws.report_progress, should_stop=ws.stop.is_set).files
            pulled[study_uid] = tuple(sorted(str(path) for path in files))
    except BaseException:
        for path in made:  # one image pulled, the next not: neither is kept
            shutil.rmtree(path, ignore_errors=True)
        raise
    return pulled


def pacs_preview(ws: Workspace, url: str, patient_id: str, image: dict):
    """One image's picture for the visits list (core.pacs.transfer.preview of an image of
    core.pacs.images.study_images: at most PACS_PREVIEW_SIZE pixels a side, never written to disk) as a QImage."""
    from core.pacs.connection import open_pacs
    from core.pacs.transfer import preview

    return pil_to_qimage(preview(open_pacs(url), patient_id, image))


def store_followup(ws: Workspace, url: str, report: str, sr: str, result, record, note: str,
                   overwrite: bool, maps: FollowupMaps | None = None) -> tuple[str, ...]:
    """Write a follow-up's DICOM report and measurement SR (both filed into the follow-up visit's study) and
    store them on the PACS at `url`; the files stored. The local files stay when the store fails. Its maps as
    export_followup draws them (`maps`, else refined and checked first)."""
    from core.review.followup_report import followup_report_facts, render
    from core.review.report import write_picture_and_facts

    filing = _filing(result.images, "follow-up", 1)
    pacs = _pacs_for_store(url, sr, overwrite)  # refused before anything is written
    maps = maps or followup_maps(ws, result)
    result = maps.result
    record = (record or CaseRecord()).merged(from_images(result.images))
    facts = followup_report_facts(result, ws.require_model(), record=record, note=note,
                                  faithfulness=maps.faithfulness)
    write_picture_and_facts(report, lambda: render(result, facts), facts, overwrite, filing,
                            lambda: _write_sr(sr, facts, filing, result.images, overwrite))  # one unit
    return _store(ws, pacs, (report, sr), filing)


def export_sr(ws: Workspace, path: str, explained: Explained, overwrite: bool) -> str:
    """The pair's measurements as a DICOM SR (core.review.measurement_sr, as `explain --sr` writes it), filed into
    image 1's study; ValueError in one line when the images are not DICOM."""
    from pathlib import Path

    from core.explain.facts import explanation_facts
    from core.review.report import check_targets

    filing = _filing(explained.images, "pair", 0)
    check_targets([Path(path)], overwrite)
    facts = explanation_facts(explained.explanation, explained.images, explained.model)
    _write_sr(path, facts, filing, explained.images, overwrite)
    return path


def store_pair(ws: Workspace, url: str, request: ExportRequest, sr: str) -> tuple[str, ...]:
    """The pair's DICOM report (request.path, a .dcm, with its JSON sidecar kept here) and its SR at `sr`, written
    and then stored into image 1's study on the PACS at `url`; the files stored. Written files stay when the store
    fails (the error says so)."""
    from pathlib import Path

    if Path(request.path).suffix.lower() != ".dcm":
        raise ValueError(f"{request.path}: a report stored on a PACS is a DICOM file (.dcm)")
    explained = request.explained
    filing = _filing(explained.images, "pair", 0)
    pacs = _pacs_for_store(url, sr, request.overwrite)
    # the SR nested in the report's unit: the report, its sidecar and the SR are placed together or not at all
    exported = export(ws, request, lambda facts: _write_sr(sr, facts, filing, explained.images, request.overwrite))
    return _store(ws, pacs, (exported.png, sr), filing)


def _write_sr(path: str, facts: dict, filing, images, overwrite: bool):
    from core.review.measurement_sr import write_sr  # highdicom: only when an SR is written

    return write_sr(path, facts, filing, images, overwrite)


def dicom_pair(images) -> bool:
    """Whether a report of `images` can file on a PACS: two images, both DICOM, of one patient."""
    first, second = ([getattr(image, "dicom", None) for image in images] + [None, None])[:2]
    return len(images) == 2 and first is not None and second is not None and first.same_patient(second)


def _filing(images, kind: str, primary: int):
    """Where a report of `images` files; ValueError unless they are DICOM images of one patient."""
    from core.io.dicom import report_filing

    filing = report_filing(images, kind, primary=primary)
    if filing is None or not dicom_pair(images):
        raise ValueError("a DICOM SR or a store to PACS needs two DICOM images of one patient (it files into "
                         "their study)")
    return filing


def _pacs_for_store(url: str, sr: str, overwrite: bool):
    """The PACS at `url`, and the SR's name checked, before anything is written."""
    from pathlib import Path

    from core.pacs.connection import open_pacs
    from core.review.report import check_targets

    pacs = open_pacs(url)
    check_targets([Path(sr)], overwrite)
    return pacs


def _store(ws: Workspace, pacs, paths, filing) -> tuple[str, ...]:
    """Send the written files, unless the reviewer cancelled while they were written (then nothing is sent)."""
    from core.io.files import printable
    from core.pacs.connection import PacsError
    from core.pacs.transfer import store

    try:
        if ws.stop.is_set():
            raise PacsError("store cancelled")
        store(pacs, list(paths), filing.sources[0].StudyInstanceUID)
    except PacsError as exc:
        raise PacsError(f"{exc}; written here, not stored: {', '.join(printable(p) for p in paths)}") from None
    return tuple(str(path) for path in paths)


def refines(explained: Explained, method: str = DEFAULT_METHOD) -> bool:
    """Whether the window refines these maps, explained with `method`, in the background
    (core.explain.refine.refines)."""
    from core.explain.refine import refines as applies

    return applies(explained.explanation, method)


def refine(ws: Workspace, explained: Explained) -> Explained:
    """The pair's first maps replaced by the costlier, more faithful ones (core.explain.refine), stoppable between
    chunks, with progress in steps."""
    from core.explain.integrated import STEPS
    from core.explain.refine import refined

    explanation = refined(ws.require_model(), [image.image for image in explained.images], explained.explanation,
                          should_stop=ws.stop.is_set,
                          progress=lambda done: ws.report_progress(round(done * STEPS), STEPS))
    return Explained(explanation, explained.images, explained.model)


def faithfulness(ws: Workspace, explained: Explained) -> dict:
    """Deletion/insertion curves of an explanation's factual maps (core.explain.faithfulness)."""
    from core.explain.faithfulness import faithfulness as curves

    return curves(ws.require_model(), [image.image for image in explained.images], explained.explanation,
                  should_stop=ws.stop.is_set)


def similar(ws: Workspace, gallery: str, image, crop, k: int) -> SimilarFound:
    """Bring the gallery's index up to date for the current model (cancellable, with progress), then find the k
    cases nearest to `image` as the model explains it (the reviewer's crop, else the model's automatic one)."""
    from core.io.images import with_crop
    from core.review.gallery import build_index, index_note
    from core.review.neighbours import nearest_cases

    model = ws.require_model()
    index, counts = build_index(model, gallery, progress=ws.report_progress, should_stop=ws.stop.is_set)
    where = tuple(note for note in (index_note(index),) if note)
    if not index.entries:
        return SimilarFound(image.path, gallery, (), None, 0, counts["interrupted"], where)
    found = nearest_cases(model, index, with_crop(image, crop), k)
    for hit in found.hits:
        hit["qimage"] = _thumbnail(hit["path"])
    notes = tuple(note for note in (found.in_gallery, *found.notes) if note) + where
    return SimilarFound(image.path, gallery, tuple(found.hits), found.vote, len(index.entries),
                        counts["interrupted"], notes)


def export(_ws: Workspace, request: ExportRequest, nested=None) -> Exported:
    """The report of the pair as shown and its JSON sidecar (core.review.outputs, as `explain --report` writes them),
    with a `nested` unit (the measurement SR) written as one with them."""
    from core.review.case_record import CaseRecord, from_images
    from core.review.outputs import write_report

    explained = request.explained
    record = (request.record or CaseRecord()).merged(from_images(explained.images))
    png, sidecar = write_report(request.path, explained.explanation, explained.images, explained.model,
                                colormaps=request.colormaps, layers=request.layers, note=request.note,
                                overwrite=request.overwrite, provenance=request.provenance,
                                faithfulness=request.faithfulness, record=record,
                                reviewer_verdict=request.reviewer_verdict, shown_anyway=request.shown_anyway,
                                nested=nested)
    return Exported(str(png), str(sidecar))


def _thumbnail(path: str, size: int = 96):
    from core.io.images import load_image

    try:
        image = load_image(path).image
    except Exception:  # a hit whose file vanished or broke since indexing shows no picture, not an error
        return None
    image.thumbnail((size, size))
    return pil_to_qimage(image)


def one_line(exc: BaseException) -> str:
    """Product errors carry their own one-line message; anything else gets its type name in front."""
    text = first_line(exc, 300) if str(exc).strip() else ""
    if isinstance(exc, (SiameseLensError, FileExistsError, ValueError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
