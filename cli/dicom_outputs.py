"""What `explain` and `followup` write and send as DICOM beyond the report: `--sr FILE.dcm` (the measurements as a
DICOM Structured Report, core.review.measurement_sr) and `--store URL` (the DICOM report and SR stored into the
source study of a PACS, core.pacs). Checked before any work. The SR is written with the report, as one unit: the
report, its sidecar and the SR are renamed into place only once all three are written, so a run that fails leaves
the earlier files of these names byte-identical. The store comes after."""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.io.files import printable


def check_dicom_outputs(args) -> None:
    """Refuse, before anything is read, an SR name that is not a .dcm or would overwrite without --force, and a
    --store with nothing DICOM to store or a PACS address that cannot be used (nothing is sent yet)."""
    if getattr(args, "store", None):
        if not (getattr(args, "sr", None) or (args.report and Path(args.report).suffix.lower() == ".dcm")):
            raise InputError("--store: stores a DICOM report (--report FILE.dcm) or --sr FILE.dcm; neither is given")
        from core.pacs.connection import open_pacs

        open_pacs(args.store)
    if getattr(args, "sr", None):
        from core.review.report import check_targets

        sr = Path(args.sr)
        if sr.suffix.lower() != ".dcm":
            raise InputError(f"--sr {printable(sr)}: a structured report's name must end in .dcm")
        if args.report and Path(args.report).absolute() == sr.absolute():
            raise InputError(f"--sr {printable(sr)}: the SR and the report cannot be one file")
        check_targets([sr], args.force)


def require_dicom_sources(args, images) -> None:
    """--sr and --store need the images to be DICOM: the files they write belong to the source study."""
    flag = "--sr" if getattr(args, "sr", None) else "--store" if getattr(args, "store", None) else None
    if flag is None or any(getattr(image, "dicom", None) for image in images):
        return
    value = args.sr if flag == "--sr" else args.store
    raise InputError(f"{flag} {printable(value)}: needs DICOM source images (it files into their study); "
                     "the images given are not DICOM")


def sr_unit(args, filing, images):
    """When --sr asks, a function of the report's facts that writes the SR (core.review.measurement_sr.write_sr) and
    returns the files it placed, for the report's writer to nest in its unit; else None."""
    if not getattr(args, "sr", None):
        return None
    from core.review.measurement_sr import write_sr

    return lambda facts: write_sr(args.sr, facts, filing, images, args.force)


def store_outputs(args, filing) -> list[str]:
    """Store the DICOM report and the SR this run wrote into the source study when --store asks; the paths stored.
    The local files stay whatever happens: a refused store is one line that says so."""
    if not getattr(args, "store", None):
        return []
    from core.pacs.connection import PacsError, open_pacs
    from core.pacs.transfer import store

    paths = [str(path) for path in (args.report, getattr(args, "sr", None))
             if path and Path(path).suffix.lower() == ".dcm"]
    study = filing.sources[0].StudyInstanceUID
    try:
        store(open_pacs(args.store), paths, study)
    except PacsError as exc:
        raise PacsError(f"{exc}; written here, not stored: {', '.join(printable(p) for p in paths)}") from None
    return paths
