"""The file dialogs, each starting where the reviewer is most likely to want it, and the one question asked
before a report is overwritten. Every function returns a path, or None when the reviewer cancelled."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from ..jobs.tasks import file_dialog_filter

REPORT_SUFFIX_OF = {"PNG report (*.png)": ".png", "PDF report (*.pdf)": ".pdf",
                    "DICOM Secondary Capture (*.dcm)": ".dcm"}
REPORT_FILTER = ";;".join(REPORT_SUFFIX_OF)
IMAGE_FILTER = file_dialog_filter()


def open_image(parent, slot: int, folder: str) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, f"Open image {slot + 1}", folder, IMAGE_FILTER)
    return path or None


def visit_paths(parent, folder: str) -> list[str]:
    """Two or more images of one lesion, for its follow-up history (their order does not matter)."""
    paths, _ = QFileDialog.getOpenFileNames(parent, "Follow-up history: choose every visit of the lesion", folder,
                                            IMAGE_FILTER)
    return list(paths)


def report_path(parent, suggested: Path) -> tuple[str, bool] | None:
    """(path, overwrite) for a report, asking before an existing report (or its sidecar) is replaced. The type
    offered is the suggested name's (a .dcm name under a PNG filter read as a PNG report to the reviewer)."""
    offered = next((name for name, suffix in REPORT_SUFFIX_OF.items() if suffix == Path(suggested).suffix.lower()),
                   next(iter(REPORT_SUFFIX_OF)))
    path, chosen = QFileDialog.getSaveFileName(parent, "Export report", str(suggested), REPORT_FILTER, offered,
                                               options=QFileDialog.Option.DontConfirmOverwrite)
    if not path:
        return None
    suffix = REPORT_SUFFIX_OF.get(chosen, ".png")  # the format picked in the dialog, unless the name says one
    path = path if Path(path).suffix.lower() in REPORT_SUFFIX_OF.values() else path + suffix
    existing = [p.name for p in (Path(path), Path(path).with_suffix(".json")) if p.exists()]
    replace = QMessageBox.question(parent, "Replace report?", f"{' and '.join(existing)} already exist"
                                   f"{'s' if len(existing) == 1 else ''}. Replace?") if existing else None
    if existing and replace != QMessageBox.StandardButton.Yes:
        return None
    return path, bool(existing)


def model_file(parent, folder: str) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Choose model", folder, "Weights (*.pt);;All files (*)")
    return path or None


def gallery_folder(parent, folder: str) -> str | None:
    return QFileDialog.getExistingDirectory(parent, "Choose a gallery of known cases", folder) or None


def pairs_csv(parent, folder: str) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Import pairs", folder, "CSV (*.csv);;All files (*)")
    return path or None


def worklist_csv(parent, folder: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, "Export worklist", str(Path(folder) / "worklist.csv"), "CSV (*.csv)")
    return path or None
