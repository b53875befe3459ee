"""The outputs of one explanation: its maps (a float32 .npy and a colour overlay .png per layer and image, in one
folder), its report (PNG, PDF or DICOM by the name's suffix) and the report's JSON sidecar. The one writer behind
`explain --out/--report`, batch reports and the window's File > Export.

    plan_outputs(out_dir=None, report=None, *, colormaps=None, overwrite=False) -> OutputPlan
    write_outputs(plan, explanation, images, model, **report_options) -> Written(files, facts)
    write_report(path, explanation, images, model, *, colormaps=None, overwrite=False, **report_options)
        -> (report, sidecar)

The plan names every file before anything is read or computed, and refuses, with one error naming the file, a
name that is not a report's, a folder that cannot be made or written into, and an existing file unless
`overwrite`. write_outputs then builds the explanation's facts once (core.explain.facts: each image hashed once),
writes the maps, the report and its sidecar under temporary names and renames them into place only when all are
written (core.io.files.write_unit, the report's unit nested before the maps' renames, and a `nested` unit such as
the measurement SR nested in the report's): all the planned files or none, and an export that fails or is killed
before the renames leaves the previous files byte-identical (the renames themselves take microseconds; a writer
killed among them leaves a journal by which the next one removes the torn set). report_options are
core.review.report.sidecar_facts's. Maps are written at their own size (core.explain.pair.map_size); the overlays
and the report resize them to the image they are drawn on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.explain.facts import explanation_facts
from core.io.files import first_line, printable, write_unit
from core.review.report import (
    ReportError,
    check_report_path,
    check_targets,
    report_colormaps,
    sidecar_facts,
    write_report_files,
)
from core.vocabulary import LAYERS

OVERLAY_OPACITY = 0.6  # a map's overlay .png: the image still shows through the strongest colour


@dataclass(frozen=True)
class OutputPlan:
    """Every file one explanation's outputs will be, checked by plan_outputs; nothing is written yet."""

    maps: tuple[Path, ...]  # in --out's folder, in the order they are listed: per layer, per image, .npy then .png
    report: Path | None
    colormaps: dict  # {layer: colormap} of the overlays and the report, every layer named
    overwrite: bool

    @property
    def files(self) -> tuple[Path, ...]:
        """The maps, then the report and its sidecar (same name, .json)."""
        return self.maps + ((self.report, self.report.with_suffix(".json")) if self.report else ())


@dataclass(frozen=True)
class Written:
    files: tuple[Path, ...]  # as planned
    facts: dict  # the explanation's facts (core.explain.facts), as the sidecar holds them under its own


def map_files(out_dir) -> tuple[Path, ...]:
    return tuple(Path(out_dir) / f"image{i}_{kind}{ext}" for kind in LAYERS for i in (1, 2) for ext in (".npy", ".png"))


def plan_outputs(out_dir=None, report=None, *, colormaps=None, overwrite: bool = False) -> OutputPlan:
    """Check every output an explanation is asked for (colormaps first, then the report, then the maps) and list
    its files; raises ValueError, FileExistsError or core.review.report.ReportError naming the file."""
    chosen = report_colormaps(colormaps)
    plan = OutputPlan(map_files(out_dir) if out_dir else (), check_report_path(report, overwrite) if report else None,
                      chosen, overwrite)
    if plan.maps:
        check_targets(list(plan.maps), overwrite)
    named = [os.path.normpath(path.absolute()) for path in plan.files]  # out/../out/x.png is out/x.png
    if len(set(named)) < len(named):  # the maps are distinct, and so are a report and its sidecar
        raise InputError(f"{printable(plan.report)}: the report and its sidecar cannot be one of the maps")
    return plan


def write_outputs(plan: OutputPlan, explanation, images, model, *, with_facts: bool = False, nested=None,
                  **report_options) -> Written:
    """Write what `plan` lists for the explained pair (images: core.explain.pair.explained_images; model: a
    ModelInfo or SiameseModel); a report's sidecar holds sidecar_facts(facts, **report_options). The facts (each
    image hashed) are built when a report or `nested` needs them or `with_facts` asks for them, else
    Written.facts is {}. `nested(facts)` writes one more unit with these outputs (the measurement SR,
    core.review.measurement_sr.write_sr) and returns the files it placed; it runs once every planned file is
    written to its temporary, and its files are removed again if the renames that follow fail.

    Nothing is renamed into place until every file is written: an error or a kill while the maps are drawn, the
    report rendered or the nested unit written leaves the previous files of these names as they were."""
    facts = explanation_facts(explanation, images, model) if plan.report or with_facts or nested else {}
    # built (and its options checked) before the first file is written
    sidecar = sidecar_facts(facts, colormaps=plan.colormaps, **report_options) if plan.report else {}
    nested_files: list[Path] = []

    def write_nested() -> list[Path]:
        nested_files.extend(nested(facts) if nested else ())
        return nested_files

    def write_report_unit(report: Path) -> list[Path]:
        from core.io.dicom import report_filing
        from core.review.report_layout import render

        placed = write_report_files(report, lambda: render(explanation, images, sidecar), sidecar,
                                    plan.overwrite, report_filing(images, "pair"), write_nested)
        return [*placed, *nested_files]

    report = plan.report
    last_unit = (lambda: write_report_unit(report)) if report else write_nested  # inside the maps' unit
    if not plan.maps:
        last_unit()
        return Written(plan.files, facts)
    try:
        # the maps' unit removes what the nested units placed if its own renames fail: all outputs or none
        write_unit(_map_items(plan, explanation, images), overwrite=plan.overwrite, before_renames=last_unit)
    except (FileExistsError, ReportError):
        raise
    except OSError as exc:
        # a full disk or a lost permission: name the folder, as a report's error does
        raise ReportError(f"{printable(plan.maps[0].parent)}: cannot write maps ({first_line(exc)})") from None
    return Written(plan.files, facts)


def write_report(path, explanation, images, model, *, colormaps=None, overwrite: bool = False, nested=None,
                 **report_options) -> tuple[Path, Path]:
    """A report and its sidecar alone (the window's export, batch), with a `nested` unit as write_outputs's:
    (report, sidecar)."""
    plan = plan_outputs(report=path, colormaps=colormaps, overwrite=overwrite)
    write_outputs(plan, explanation, images, model, nested=nested, **report_options)
    report, sidecar = plan.files
    return report, sidecar


def _map_items(plan: OutputPlan, explanation, images) -> list[tuple[Path, object]]:
    files = iter(plan.maps)
    items: list[tuple[Path, object]] = []
    for kind in LAYERS:
        for image, heatmap in zip(images, getattr(explanation, kind), strict=True):
            items.append((next(files), lambda handle, heatmap=heatmap: np.save(handle, heatmap)))
            items.append((next(files), _overlay_writer(image.image, heatmap, plan.colormaps[kind])))
    return items


def _overlay_writer(image, heatmap, colormap: str):
    from core.explain.overlay import write_overlay_png

    # drawn as written, one at a time and band by band: four whole overlays of a large image cost hundreds of MB
    return lambda handle: write_overlay_png(handle, image, heatmap, colormap, opacity=OVERLAY_OPACITY)
