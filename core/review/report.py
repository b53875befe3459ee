"""The one report writer (GUI export, `main.py explain --report`, batch): a PNG of the explained pair with its
facts (drawn by core.review.report_layout), and a JSON sidecar holding the same facts, written as one unit. No Qt, no
torch at import time.

    write_report(path, explanation, images, model, *, colormaps=None, layers=None, note="", when=None,
                 overwrite=False, provenance=(None, None), faithfulness=None, record=None,
                 reviewer_verdict=None) -> (png_path, json_path)
    render_report(...same arguments, less path/overwrite...) -> PIL.Image (RGB)
    report_facts(...same arguments...) -> dict (the JSON sidecar's content)

explanation  core.explain.pair.Explanation of the pair.
images       the pair of core.io.images.LoadedImage objects that were explained (already cropped; .crop,
             .original_size and .overview say how).
model        core.model.network.ModelInfo (core.model.network.describe(model)); a SiameseModel is described on the fly.
colormaps    {layer: colormap name} (core.vocabulary.COLORMAPS); a layer left out gets its default
             (core.vocabulary.DEFAULT_LAYER_COLORMAPS).
layers       per image, {"factual": opacity, "counterfactual": opacity} with opacity in [0, 1]; a missing
             layer or opacity 0 is not drawn. None = factual at 50 % on both images (DEFAULT_LAYERS).
note         the reviewer's free text, printed (wrapped) and stored.
when         datetime of the report (default: now, local time with its UTC offset).
provenance   per image, None or where it was opened from in the similar cases.
record       core.review.case_record.CaseRecord (case and patient ids, body site, acquisition dates, reviewer) or None.
reviewer_verdict  "agree" / "disagree" with the model's verdict (a worklist review), or None.
A report's folder is created when missing, as `explain --out` creates its folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

from PIL import Image

from core.errors import SiameseLensError
from core.explain.facts import explanation_facts
from core.explain.overlay import colormap_lut
from core.io.files import first_line, folder_problem, make_folders, printable, remove_folders, settle, write_unit
from core.review.case_record import REVIEWER_VERDICTS, CaseRecord
from core.review.report_files import REPORT_SUFFIXES, encode
from core.version import APP_NAME, __version__
from core.vocabulary import DEFAULT_LAYER_COLORMAPS, DISCLAIMER, LAYERS

DEFAULT_LAYERS = ({"factual": 0.5}, {"factual": 0.5})


class ReportError(SiameseLensError, OSError):
    """A report could not be written (read-only folder, full disk...); nothing partial is left behind."""


def write_report(path, explanation, images, model, *, colormaps=None, layers=None, note="", when=None,
                 overwrite=False, provenance=(None, None), faithfulness=None, record=None,
                 reviewer_verdict=None) -> tuple[Path, Path]:
    """Write the report to `path` (PNG, PDF or DICOM by its suffix) and its JSON sidecar next to it (same name,
    .json), both atomically.

    Raises FileExistsError if either file exists and overwrite is False, ValueError for a name not ending in
    .png, .pdf or .dcm, and ReportError (an OSError) with a one-line message when the files cannot be written.
    """
    from core.review.report_layout import render

    png = check_report_path(path, overwrite)
    facts = report_facts(explanation, images, model, colormaps=colormaps, layers=layers, note=note, when=when,
                         provenance=provenance, faithfulness=faithfulness, record=record,
                         reviewer_verdict=reviewer_verdict)
    return _write_checked(png, lambda: render(explanation, images, facts), facts, overwrite)


def check_report_path(path, overwrite: bool) -> Path:
    """The report's PNG path, once it is known that it and its sidecar may be written (checked before any work)."""
    png = Path(path)
    if png.suffix.lower() not in REPORT_SUFFIXES:
        raise ValueError(f"{printable(png)}: a report file name must end in {', '.join(REPORT_SUFFIXES)}")
    problem = folder_problem(png.parent)
    if problem:
        raise ReportError(f"{printable(png)}: cannot write report ({problem})")
    if not png.parent.is_dir():
        return png  # the folder is created when the report is written: nothing in it yet
    settle([png, png.with_suffix(".json")])  # a writer killed mid-commit: its torn pair is not "an existing report"
    for target in (png, png.with_suffix(".json")):
        if os.path.isdir(target):
            raise ReportError(f"{printable(target)}: cannot write report (a folder has that name)")
        if not overwrite and os.path.lexists(target):  # a dangling symlink counts: never written through
            raise FileExistsError(f"{printable(target)}: already exists (confirm, or use --force, to overwrite)")
    return png


def write_picture_and_facts(path, render, facts: dict, overwrite: bool = False) -> tuple[Path, Path]:
    """Any report: the picture render() draws, as PNG, PDF or DICOM at `path` (by its suffix, core.review.report_files),
    and `facts` as its JSON sidecar, written as one unit (both or neither, and no folder made for them left
    behind). Used by pair and similar-case reports."""
    return _write_checked(check_report_path(path, overwrite), render, facts, overwrite)


def _write_checked(png: Path, render, facts: dict, overwrite: bool) -> tuple[Path, Path]:
    """write_picture_and_facts once check_report_path has passed `png` (checked once per report, not per layer)."""
    sidecar = png.with_suffix(".json")
    picture = encode(render(), png.suffix, facts)
    # The JSON names the PNG it belongs to by content: a reader can tell a pair that belongs together.
    facts["report_file"] = png.name
    facts["report_file_sha256"] = hashlib.sha256(picture).hexdigest()
    if png.suffix.lower() == ".png":  # the keys sidecars have always had
        facts["report_png"], facts["report_png_sha256"] = facts["report_file"], facts["report_file_sha256"]
    # backslashreplace: a path that is not valid UTF-8 is kept as a JSON escape instead of failing the write
    text = json.dumps(facts, indent=2, ensure_ascii=False).encode("utf-8", "backslashreplace")
    created: list[Path] = []
    try:
        created = make_folders(png.parent)
        write_unit([(png, picture), (sidecar, text)], overwrite=overwrite)
    except FileExistsError:
        raise
    except OSError as exc:
        remove_folders(created)
        # the reason alone: the file it names may be a temporary the user never asked for
        raise ReportError(f"{printable(png)}: cannot write report ({printable(exc.strerror or first_line(exc))})") from None
    except BaseException:
        remove_folders(created)
        raise
    return png, sidecar


def render_report(explanation, images, model, *, colormaps=None, layers=None, note="", when=None,
                  provenance=(None, None), faithfulness=None, record=None, reviewer_verdict=None) -> Image.Image:
    """The report picture alone (RGB), as write_report saves it."""
    from core.review.report_layout import render

    facts = report_facts(explanation, images, model, colormaps=colormaps, layers=layers, note=note, when=when,
                         provenance=provenance, faithfulness=faithfulness, record=record,
                         reviewer_verdict=reviewer_verdict)
    return render(explanation, images, facts)


def report_facts(explanation, images, model, *, colormaps=None, layers=None, note="", when=None,
                 provenance=(None, None), faithfulness=None, record=None, reviewer_verdict=None) -> dict:
    """Everything the report states, as JSON-ready data: the case record (core.review.case_record; every key present,
    None where not given), the explanation's facts (core.explain.facts) plus what the reviewer chose to show and said.
    provenance: per image, None or where it was opened from in the similar cases ({"query", "rank", "label",
    "similarity", "gallery"}). reviewer_verdict: the reviewer's agree/disagree on the model's verdict, or None."""
    if reviewer_verdict is not None and reviewer_verdict not in REVIEWER_VERDICTS:
        raise ValueError(f"reviewer verdict must be one of {', '.join(REVIEWER_VERDICTS)}, got {reviewer_verdict!r}")
    chosen = report_colormaps(colormaps)  # validates the names before anything is drawn
    layers = _layers(layers)
    when = when or datetime.now().astimezone()
    facts = explanation_facts(explanation, images, model)
    for image, image_layers, origin in zip(facts["images"], layers, provenance):
        image["layers"] = image_layers
        if origin:
            image["similar_case"] = dict(origin)
    return {
        "app": {"name": APP_NAME, "version": __version__},
        "created": when.isoformat(timespec="seconds"),
        **(record or CaseRecord()).facts(),
        "reviewer_verdict": reviewer_verdict,
        **facts,
        "colormaps": chosen,
        "note": note or "",
        **({"faithfulness": faithfulness} if faithfulness else {}),
        "disclaimer": DISCLAIMER,
    }


def report_colormaps(colormaps) -> dict:
    """{layer: colormap} for every layer: the given ones (checked), the defaults for the rest."""
    chosen = {**DEFAULT_LAYER_COLORMAPS, **(colormaps or {})}
    unknown = set(chosen) - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown overlay layer(s) {', '.join(sorted(unknown))}; use {', '.join(LAYERS)}")
    for name in chosen.values():
        colormap_lut(name)
    return {layer: chosen[layer] for layer in LAYERS}


def _layers(layers) -> list[dict]:
    chosen = DEFAULT_LAYERS if layers is None else layers
    if len(chosen) != 2:
        raise ValueError("layers must give one {layer: opacity} dict per image")
    out = []
    for image_layers in chosen:
        unknown = set(image_layers) - set(LAYERS)
        if unknown:
            raise ValueError(f"unknown overlay layer(s) {', '.join(sorted(unknown))}; use {', '.join(LAYERS)}")
        out.append({name: round(min(max(float(image_layers.get(name, 0.0)), 0.0), 1.0), 3) for name in LAYERS})
    return out
