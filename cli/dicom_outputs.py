"""What `explain` and `followup` write and send as DICOM beyond the report: `--sr FILE.dcm` (the measurements as a
DICOM Structured Report, core.review.measurement_sr) and `--store URL` (the DICOM report and SR stored into the
source study of a PACS, core.pacs). Checked before any work, done after the report: the SR is written atomically,
and a failure removes what this run wrote, so a run leaves all its files or none."""

from __future__ import annotations

from pathlib import Path

from core.io.files import printable


def check_dicom_outputs(args) -> None:
    """Refuse, before anything is read, an SR name that is not a .dcm or would overwrite without --force, and a
    --store with nothing DICOM to store or a PACS address that cannot be used (nothing is sent yet)."""
    if getattr(args, "store", None):
        if not (getattr(args, "sr", None) or (args.report and Path(args.report).suffix.lower() == ".dcm")):
            raise ValueError("--store: stores a DICOM report (--report FILE.dcm) or --sr FILE.dcm; neither is given")
        from core.pacs.connection import open_pacs

        open_pacs(args.store)
    if getattr(args, "sr", None):
        from core.review.report import check_targets

        sr = Path(args.sr)
        if sr.suffix.lower() != ".dcm":
            raise ValueError(f"--sr {printable(sr)}: a structured report's name must end in .dcm")
        if args.report and Path(args.report).absolute() == sr.absolute():
            raise ValueError(f"--sr {printable(sr)}: the SR and the report cannot be one file")
        check_targets([sr], args.force)


def require_dicom_sources(args, images) -> None:
    """--sr and --store need the images to be DICOM: the files they write belong to the source study."""
    flag = "--sr" if getattr(args, "sr", None) else "--store" if getattr(args, "store", None) else None
    if flag is None or any(getattr(image, "dicom", None) for image in images):
        return
    value = args.sr if flag == "--sr" else args.store
    raise ValueError(f"{flag} {printable(value)}: needs DICOM source images (it files into their study); "
                     "the images given are not DICOM")


def write_sr(args, facts: dict, filing, images, written: list[str]) -> list[str]:
    """Write the SR of `facts` when --sr asks; on failure the files in `written` (this run's report) are removed
    too. The paths written, `written` first."""
    if not getattr(args, "sr", None):
        return written
    from core.review.measurement_sr import write_sr as write

    Path(args.sr).parent.mkdir(parents=True, exist_ok=True)
    write(args.sr, facts, filing, images, written)
    return [*written, str(args.sr)]


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
