"""A pair report's content and files: a PNG, PDF or DICOM page of the explained pair with its facts (drawn by
core.review.report_layout) and a JSON sidecar holding the same facts, the two written as one unit. The outputs of one
explanation (maps, report, sidecar) are planned and written together by core.review.outputs. No Qt, no torch at
import time.

    sidecar_facts(facts, **options) -> dict (the JSON sidecar's content, from core.explain.facts's facts)
    check_report_path(path, overwrite) -> Path; write_picture_and_facts(path, render, facts, overwrite) -> paths

explanation  core.explain.pair.Explanation of the pair.
images       the pair of core.io.images.LoadedImage objects that were explained (already cropped; .crop,
             .original_size and .overview say how).
model        core.model.network.ModelInfo (core.model.network.describe(model)); a SiameseModel is described on the fly.
options (keywords, sidecar_facts):
colormaps    {layer: colormap name} (core.vocabulary.COLORMAPS); a layer left out gets its default
             (core.vocabulary.DEFAULT_LAYER_COLORMAPS).
layers       per image, {"factual": opacity, "counterfactual": opacity} with opacity in [0, 1]; a missing
             layer or opacity 0 is not drawn. None = factual at 50 % on both images (DEFAULT_LAYERS).
note         the reviewer's free text, printed (wrapped) and stored.
when         datetime of the report (default: now, local time with its UTC offset).
provenance   per image, None or where it was opened from in the similar cases.
faithfulness the explanation's deletion/insertion curves (core.explain.faithfulness), or None.
record       core.review.case_record.CaseRecord (case and patient ids, body site, acquisition dates, reviewer) or None.
reviewer_verdict  "agree" / "disagree" with the model's verdict (a worklist review), or None.
shown_anyway the reviewer chose "show anyway" for a pair not assessed because an image lies outside the domain: its
             page draws the maps and numbers and says the reviewer chose to; otherwise such a page withholds them
             (core.trust.verdict.withholds). The sidecar keeps the numbers either way, flagged "extrapolated".
A report's folder is created when missing, as `explain --out` creates its folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

from core.errors import InputError, SiameseLensError
from core.explain.overlay import colormap_lut
from core.io.files import first_line, folder_problem, printable, settle, write_unit
from core.review.case_record import REVIEWER_VERDICTS, CaseRecord
from core.review.report_files import REPORT_SUFFIXES, encode
from core.trust.verdict import withholds
from core.version import APP_NAME, __version__
from core.vocabulary import DEFAULT_LAYER_COLORMAPS, DISCLAIMER, LAYERS

DEFAULT_LAYERS = ({"factual": 0.5}, {"factual": 0.5})


class ReportError(SiameseLensError, OSError):
    """An output (a report, its sidecar, an explanation's maps) cannot be written (a file where a folder must be,
    read-only folder, full disk...); the message names the file, and nothing partial is left behind."""


def check_report_path(path, overwrite: bool) -> Path:
    """The report's path, once it is known that it and its sidecar may be written (checked before any work)."""
    report = Path(path)
    if report.suffix.lower() not in REPORT_SUFFIXES:
        raise InputError(f"{printable(report)}: a report file name must end in {', '.join(REPORT_SUFFIXES)}")
    check_targets([report, report.with_suffix(".json")], overwrite)
    return report


def check_targets(targets: list[Path], overwrite: bool) -> None:
    """The one rule of whether the files of one unit (a report and its sidecar, a folder of maps) may be written:
    their folder is one or can be made one, in a folder that can be written into, no folder has their name, and
    none exists unless `overwrite`. Raises ReportError or FileExistsError naming the file; writes nothing."""
    folder = targets[0].parent
    problem = folder_problem(folder) or _unwritable(folder)
    if problem:
        raise ReportError(f"{printable(targets[0])}: cannot be written ({problem})")
    if not folder.is_dir():
        return  # the folder is made when the files are written: nothing in it yet
    settle(targets)  # a writer killed mid-commit: its torn set is not "existing files"
    for target in targets:
        if os.path.isdir(target):
            raise ReportError(f"{printable(target)}: cannot be written (a folder has that name)")
        if not overwrite and os.path.lexists(target):  # a dangling symlink counts: never written through
            raise FileExistsError(f"{printable(target)}: already exists (confirm, or use --force, to overwrite)")


def _unwritable(folder: Path) -> str:
    existing = next(path for path in (folder, *folder.parents) if os.path.lexists(path))
    return "" if os.access(existing, os.W_OK | os.X_OK) else f"{printable(existing)} is not writable"


def write_picture_and_facts(path, render, facts: dict, overwrite: bool = False, filing=None,
                            before_renames=None) -> tuple[Path, Path]:
    """Any report: the picture render() draws, as PNG, PDF or DICOM at `path` (by its suffix, core.review.report_files),
    and `facts` as its JSON sidecar, written as one unit (both or neither, and no folder made for them left
    behind). Used by pair, follow-up and similar-case reports; a DICOM one made from DICOM images files with them
    (`filing`: core.io.dicom.report_filing). `before_renames` nests another unit in this one (the measurement SR
    asked for with the report: core.io.files.write_unit): the three files are placed together or not at all."""
    return write_report_files(check_report_path(path, overwrite), render, facts, overwrite, filing, before_renames)


def write_report_files(report: Path, render, facts: dict, overwrite: bool, filing=None,
                       before_renames=None) -> tuple[Path, Path]:
    """write_picture_and_facts once check_report_path has passed `report` (checked once, before any work)."""
    sidecar = report.with_suffix(".json")
    picture = encode(render(), report.suffix, facts, filing)
    # The JSON names the page it belongs to by content: a reader can tell a pair that belongs together.
    facts["report_file"] = report.name
    facts["report_file_sha256"] = hashlib.sha256(picture).hexdigest()
    if report.suffix.lower() == ".png":  # the keys sidecars have always had
        facts["report_png"], facts["report_png_sha256"] = facts["report_file"], facts["report_file_sha256"]
    # backslashreplace: a path that is not valid UTF-8 is kept as a JSON escape instead of failing the write
    text = json.dumps(facts, indent=2, ensure_ascii=False).encode("utf-8", "backslashreplace")
    try:
        write_unit([(report, picture), (sidecar, text)], overwrite=overwrite, before_renames=before_renames)
    except (FileExistsError, ReportError):  # ReportError: a nested unit's, naming its own file
        raise
    except OSError as exc:
        # the reason alone: the file it names may be a temporary the user never asked for
        reason = printable(exc.strerror or first_line(exc))
        raise ReportError(f"{printable(report)}: cannot write report ({reason})") from None
    return report, sidecar


def sidecar_facts(facts: dict, *, colormaps=None, layers=None, note="", when=None, provenance=(None, None),
                  faithfulness=None, record=None, reviewer_verdict=None, shown_anyway: bool = False) -> dict:
    """The report's facts from the explanation's (core.explain.facts, built once by the caller and left as they
    are): the case record (core.review.case_record; every key present, None where not given) plus what the reviewer
    chose to show and said. provenance: per image, None or where it was opened from in the similar cases
    ({"query", "rank", "label", "similarity", "gallery"}). reviewer_verdict: the reviewer's agree/disagree on the
    model's verdict, or None. "extrapolated": the pair is not assessed because an image lies outside the domain,
    so its numbers are kept for machines but stand for nothing; "withheld": its page does not show them (unless
    `shown_anyway`, the reviewer's choice, recorded as "shown_anyway")."""
    if reviewer_verdict is not None and reviewer_verdict not in REVIEWER_VERDICTS:
        raise InputError(f"reviewer verdict must be one of {', '.join(REVIEWER_VERDICTS)}, got {reviewer_verdict!r}")
    chosen = report_colormaps(colormaps)  # validates the names before anything is drawn
    extrapolated = withholds(facts["verdict"], facts.get("in_domain"))
    images = []
    for image, image_layers, origin in zip(facts["images"], _layers(layers), provenance, strict=True):
        images.append({**image, "layers": image_layers, **({"similar_case": dict(origin)} if origin else {})})
    return {
        "app": {"name": APP_NAME, "version": __version__},
        "created": (when or datetime.now().astimezone()).isoformat(timespec="seconds"),
        **(record or CaseRecord()).facts(),
        "reviewer_verdict": reviewer_verdict,
        **facts,
        "images": images,
        "colormaps": chosen,
        "note": note or "",
        **({"faithfulness": faithfulness} if faithfulness else {}),
        "extrapolated": extrapolated,
        "withheld": extrapolated and not shown_anyway,
        "shown_anyway": extrapolated and bool(shown_anyway),
        "disclaimer": DISCLAIMER,
    }


def report_colormaps(colormaps) -> dict:
    """{layer: colormap} for every layer: the given ones (checked), the defaults for the rest."""
    chosen = {**DEFAULT_LAYER_COLORMAPS, **(colormaps or {})}
    unknown = set(chosen) - set(LAYERS)
    if unknown:
        raise InputError(f"unknown overlay layer(s) {', '.join(sorted(unknown))}; use {', '.join(LAYERS)}")
    for name in chosen.values():
        colormap_lut(name)
    return {layer: chosen[layer] for layer in LAYERS}


def _layers(layers) -> list[dict]:
    chosen = DEFAULT_LAYERS if layers is None else layers
    if len(chosen) != 2:
        raise InputError("layers must give one {layer: opacity} dict per image")
    out = []
    for image_layers in chosen:
        unknown = set(image_layers) - set(LAYERS)
        if unknown:
            raise InputError(f"unknown overlay layer(s) {', '.join(sorted(unknown))}; use {', '.join(LAYERS)}")
        out.append({name: round(min(max(float(image_layers.get(name, 0.0)), 0.0), 1.0), 3) for name in LAYERS})
    return out
