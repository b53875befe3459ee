"""Find, pull and store over DICOMweb (core.pacs.connection): what a workstation does with a clinic's PACS.

    find(pacs, patient_id, study_uid=None) -> [study]  QIDO-RS: the patient's studies (or one), series, instances
    pull(pacs, patient_id, out, study_uid=None, image=None, overwrite=False, progress=None, should_stop=None,
         include_reports=False) -> Pulled           WADO-RS: the images (or one study's, or one image) as .dcm files
    store(pacs, paths, study_uid) -> int  STOW-RS: DICOM files (a report, an SR) into their source study
    preview(pacs, patient_id, image, size) -> PIL image  WADO-RS: one image (core.pacs.images), at most size x size

A study is {"study_uid", "date", "time", "accession", "description", "patient_name", "images", "series":
[{"series_uid", "modality", "number", "description", "body_part", "laterality", "manufacturer", "instances":
[{"sop_uid", "sop_class", "number", "index", "body_part", "laterality", "rows", "columns", "frames", "image"}]}]};
`image` is whether the instance has pixels (rows and columns), `index` its number among the study's images (none
for this workstation's own reports: core.pacs.images.workstation_report), `images` how many the study holds.

A pull is all or nothing: its size is checked from the search's answer before any download (each instance under
the connection's max_bytes, which also stops an answer larger than announced while it arrives), each retrieved
instance must be an image of the patient asked for, and the files are written as one unit (core.io.files.
write_unit): a failure leaves no file and no folder made for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.io.files import printable, write_unit
from core.pacs.connection import Pacs, PacsError
from core.pacs.images import number_images, pick_image, workstation_report

# QIDO attributes asked for at each level (tags, as DICOMweb names them): what find lists and pull checks.
STUDY_FIELDS = ("StudyDate", "StudyTime", "AccessionNumber", "StudyDescription", "PatientName")
SERIES_FIELDS = ("Modality", "SeriesNumber", "SeriesDescription", "BodyPartExamined", "Laterality", "Manufacturer")
INSTANCE_FIELDS = ("SOPClassUID", "InstanceNumber", "Rows", "Columns", "NumberOfFrames", "SamplesPerPixel",
                   "BitsAllocated", "BodyPartExamined", "ImageLaterality")


PREVIEW_SIZE = 96  # pixels: an image's picture in the list of visits and their images, never a reading
# A DICOM UID (PS3.5 9.1: digits and dots, at most 64); the server's UIDs name files and URL paths, so anything
# else ("../x", "a/b") is an unreadable answer, never a path.
UID = re.compile(r"[0-9]+(\.[0-9]+)*")


class PullCancelled(PacsError):
    """The user stopped a pull: nothing was written."""


@dataclass(frozen=True)
class Pulled:
    files: tuple[Path, ...]
    skipped: int  # instances without pixels (reports, SRs, presentation states) left on the server
    reports: int = 0  # this workstation's own picture reports left on the server (core.pacs.images.workstation_report)


def find(pacs: Pacs, patient_id: str, study_uid: str | None = None) -> list[dict]:
    """The patient's studies (oldest first; only `study_uid`, when given) with their series and instances, each
    image numbered in its study; [] when the PACS has none."""
    patient_id = _patient_id(patient_id)
    client = pacs.client
    filters = {"PatientID": patient_id}
    if study_uid:
        if len(study_uid) > 64 or not UID.fullmatch(study_uid):
            return []  # no study has it: never sent, as QIDO might read it as a list or a pattern
        filters["StudyInstanceUID"] = study_uid
    studies = pacs.call("the study search", client.search_for_studies,  # type: ignore[attr-defined]
                        search_filters=filters, fields=list(STUDY_FIELDS))
    found: list[dict] = []
    for study in studies:
        uid = _uid(pacs, study, "0020000D")
        if study_uid and uid != study_uid:  # a server that ignores the filter never hands us another study
            continue
        series_list = pacs.call("the series search", client.search_for_series,  # type: ignore[attr-defined]
                                study_instance_uid=uid, fields=list(SERIES_FIELDS))
        series_found: list[dict] = []
        for series in series_list:
            series_uid = _uid(pacs, series, "0020000E")
            instances = pacs.call("the instance search", client.search_for_instances,  # type: ignore[attr-defined]
                                  study_instance_uid=uid, series_instance_uid=series_uid,
                                  fields=list(INSTANCE_FIELDS))
            series_found.append({"series_uid": series_uid, "modality": _value(series, "00080060"),
                                 "number": _value(series, "00200011"), "description": _value(series, "0008103E"),
                                 "body_part": _value(series, "00180015") or _first_body_part(instances),
                                 "laterality": _value(series, "00200060"),
                                 "manufacturer": _value(series, "00080070"),
                                 "instances": sorted((_instance(pacs, i) for i in instances),
                                                     key=lambda i: (i["number"] or 0, i["sop_uid"]))})
        entry: dict = {"study_uid": uid, "date": _value(study, "00080020"), "time": _value(study, "00080030"),
                       "accession": _value(study, "00080050"), "description": _value(study, "00081030"),
                       "patient_name": _value(study, "00100010"),
                       "series": sorted(series_found, key=lambda s: (_number(s["number"]), s["series_uid"]))}
        entry["images"] = number_images(entry)
        found.append(entry)
    return sorted(found, key=lambda s: (s["date"], s["time"], s["study_uid"]))


def pull(pacs: Pacs, patient_id: str, out, study_uid: str | None = None, image: str | None = None,
         overwrite: bool = False, progress=None, should_stop=None, include_reports: bool = False) -> Pulled:
    """Retrieve the patient's images (of `study_uid` only, when given; of that study only its image `image`, a
    number or SOP Instance UID as core.pacs.images.pick_image reads it) into the folder `out` as
    DATE_SOPINSTANCEUID.dcm files, written as one unit; PacsError naming what is wrong, nothing written. The
    pictures this workstation filed as reports are images too, but not the patient's: left on the server (as the
    window's list leaves them out: core.pacs.images.workstation_report) unless `include_reports`.
    progress(done, total) follows each instance; should_stop() -> True before one cancels the pull (PullCancelled,
    nothing written)."""
    if image is not None and not study_uid:
        raise PacsError("an image is chosen within its study: give the study too (`pacs find` lists both)")
    studies = find(pacs, patient_id, study_uid)
    if study_uid and not studies:
        raise PacsError(f"{pacs.url}: patient {printable(patient_id, 80)} has no study {printable(study_uid, 80)}")
    if not studies:
        raise PacsError(f"{pacs.url}: no studies of patient {printable(patient_id, 80)}")
    chosen = pick_image(studies[0], image, pacs.url)["sop_uid"] if image is not None else None
    wanted, skipped, reports = [], 0, 0
    for study in studies:
        for series in study["series"]:
            own = workstation_report(series) and not include_reports
            for instance in series["instances"]:
                if chosen is not None and instance["sop_uid"] != chosen:
                    continue
                if not instance["image"]:
                    skipped += 1
                    continue
                if own:
                    reports += 1
                    continue
                size = (instance["rows"] * instance["columns"] * instance["samples"] * instance["bytes_per_sample"]
                        * instance["frames"])
                if size > pacs.max_bytes:
                    raise PacsError(f"{pacs.url}: instance {instance['sop_uid']} holds {size:,} bytes of pixels, "
                                    f"over the limit of {pacs.max_bytes:,} (a huge instance is not pulled)")
                wanted.append((study, series, instance))
    if not wanted:
        where = f"study {printable(study_uid, 80)}" if study_uid else f"patient {printable(patient_id, 80)}"
        left = f", {reports} report picture(s) this workstation filed (--include-reports pulls them)" if reports else ""
        raise PacsError(f"{pacs.url}: {where} has no images ({skipped} instance(s) without pixels{left})")
    folder = Path(out)
    done = {"count": 0}

    def step() -> None:
        if should_stop is not None and should_stop():
            raise PullCancelled(f"{pacs.url}: pull cancelled; nothing written")
        if progress is not None:
            progress(done["count"], len(wanted))
        done["count"] += 1

    items = [(folder / f"{study['date'] if _is_date(study['date']) else 'undated'}_{instance['sop_uid']}.dcm",
              _retriever(pacs, patient_id, study["study_uid"], series["series_uid"], instance["sop_uid"], step))
             for study, series, instance in wanted]
    write_unit(items, overwrite=overwrite)
    if progress is not None:
        progress(len(wanted), len(wanted))
    return Pulled(tuple(path for path, _ in items), skipped, reports)


def store(pacs: Pacs, paths, study_uid: str) -> int:
    """Store the DICOM files `paths` (one request) into the study `study_uid`, which each must belong to; the
    number stored. PacsError when a file is not of that study or the PACS refuses any of them."""
    import pydicom

    datasets = []
    for path in paths:
        ds = pydicom.dcmread(path)
        if str(ds.get("StudyInstanceUID", "")) != study_uid:
            raise PacsError(f"{printable(path)}: not of study {printable(study_uid, 80)}; not stored")
        datasets.append(ds)
    answer = pacs.call("the store", pacs.client.store_instances,  # type: ignore[attr-defined]
                       datasets=datasets, study_instance_uid=study_uid)
    failed = list(answer.get("FailedSOPSequence", []) or []) if answer is not None else []
    if failed:
        reasons = sorted({f"0x{int(item.get('FailureReason', 0)):04X}" for item in failed})
        raise PacsError(f"{pacs.url}: the PACS refused {len(failed)} of {len(datasets)} instance(s) "
                        f"(failure reason {', '.join(reasons)})")
    return len(datasets)


def preview(pacs: Pacs, patient_id: str, image: dict, size: int = PREVIEW_SIZE):
    """One image of a study (core.pacs.images.study_images) shrunk to fit size x size pixels, for a list of visits
    and their images; the instance is retrieved under the connection's size cap and never written. PacsError when
    it cannot be shown."""
    import io

    from core.io.dicom import read_dicom
    from core.io.images import MAX_PIXELS

    buffer = io.BytesIO()
    _retriever(pacs, _patient_id(patient_id), image["study_uid"], image["series_uid"], image["sop_uid"],
               lambda: None)(buffer)
    buffer.seek(0)
    try:
        picture = read_dicom(buffer, MAX_PIXELS)[0]
    except ValueError as exc:
        raise PacsError(f"{pacs.url}: instance {image['sop_uid']}: {exc}") from None
    picture.thumbnail((size, size))
    return picture


def _retriever(pacs: Pacs, patient_id: str, study_uid: str, series_uid: str, sop_uid: str, step):
    """A writer of one instance's file (for write_unit): retrieved when written, checked before a byte is."""

    def write(handle) -> None:
        step()
        ds = pacs.call(f"instance {sop_uid}", pacs.client.retrieve_instance,  # type: ignore[attr-defined]
                       study_uid, series_uid, sop_uid)
        if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
            raise PacsError(f"{pacs.url}: instance {sop_uid} is not an image (no pixel data); nothing pulled")
        if str(ds.get("PatientID", "")) != patient_id or str(ds.get("SOPInstanceUID", "")) != sop_uid:
            raise PacsError(f"{pacs.url}: instance {sop_uid} came back as another patient's or instance; "
                            "nothing pulled")
        ds.save_as(handle, enforce_file_format=True)

    return write


def _patient_id(text: str) -> str:
    """A patient id to search by exactly: QIDO would read * and ? as wildcards and list other patients."""
    text = (text or "").strip()
    if not text or any(c in text for c in "*?\\") or len(text) > 64 or not text.isprintable():
        raise PacsError(f"patient id {printable(text, 80)!r}: give one patient's exact id (no wildcards)")
    return text


def _instance(pacs: Pacs, item: dict) -> dict:
    rows, columns = _int(item, "00280010"), _int(item, "00280011")
    return {"sop_uid": _uid(pacs, item, "00080018"), "sop_class": _value(item, "00080016"),
            "number": _int(item, "00200013"), "body_part": _value(item, "00180015"),
            "laterality": _value(item, "00200062"), "rows": rows, "columns": columns,
            "frames": max(1, _int(item, "00280008")), "samples": max(1, _int(item, "00280002")),
            "bytes_per_sample": max(1, (_int(item, "00280100") + 7) // 8), "image": rows > 0 and columns > 0}


def _uid(pacs: Pacs, item: dict, tag: str) -> str:
    uid = _value(item, tag)
    if len(uid) > 64 or not UID.fullmatch(uid):
        raise PacsError(f"{pacs.url}: unreadable answer to the search ({printable(uid, 80)!r} is not a DICOM UID)")
    return uid


def _number(text: str) -> int:
    """A number the server sent (IS or US, as text here; 0 when absent or unreadable): a series is sorted by it,
    "10" after "2"."""
    try:
        return int(float(text or 0))
    except (TypeError, ValueError, OverflowError):
        return 0


def _is_date(text: str) -> bool:
    """A DICOM date (YYYYMMDD): what may lead a pulled file's name."""
    return len(text) == 8 and text.isascii() and text.isdigit()


def _first_body_part(instances: list) -> str:
    return next((_value(i, "00180015") for i in instances if _value(i, "00180015")), "")


def _value(item: dict, tag: str) -> str:
    """The first value of `tag` in a DICOM JSON object as text ('' when absent); a person name's alphabetic form."""
    values = (item.get(tag) or {}).get("Value") or [""]
    value = values[0]
    if isinstance(value, dict):
        value = value.get("Alphabetic", "")
    return str(value)


def _int(item: dict, tag: str) -> int:
    return _number(_value(item, tag))
