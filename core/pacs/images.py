"""A study's images as a reviewer tells them apart (a dermoscopy visit: an overview and close-ups, or several
lesions): numbered in the study, listed with what distinguishes them, and one picked by its number or SOP Instance
UID. Works on a study as core.pacs.transfer.find lists it; nothing here talks to the server.

    number_images(study) -> int  each instance with pixels gets its number in the study ("index": 1, 2, ...; None
                                 without, and for the workstation's own reports); how many there are
    workstation_report(series) -> bool  a series of this workstation's reports (picture or SR): never an image to
                                 compare, though a picture report has pixels
    study_images(study) -> [image]  the study's images in that order, flat, each knowing its study and series
    pick_image(study, which, server) -> image  by number ("2") or SOP Instance UID; PacsError naming what exists
    image_facts(image) -> [str]  what tells it apart: number, series description, series and instance number,
                                 body part, laterality, size; image_label(image) -> str  the same in one line

The order (series number, then instance number, then UID) is find's, so a number means the same image in `pacs
find`, `pacs pull --image` and the window's list. An image is {"index", "study_uid", "date", "time", "series_uid",
"series_number", "series_description", "modality", "sop_uid", "instance_number", "body_part", "laterality",
"columns", "rows", "frames"}.
"""

from __future__ import annotations

from core.io.dicom import MANUFACTURER, REPORT_SERIES
from core.io.files import printable
from core.pacs.connection import PacsError

# DICOM Laterality / ImageLaterality (PS3.3 C.7.3.1, C.7.6.2): as a reviewer reads it.
LATERALITY = {"R": "right", "L": "left", "B": "both sides", "U": "unpaired"}
# What the workstation writes its reports as (core.io.dicom): other, or a structured report, in its own series
REPORT_MODALITIES = ("OT", "SR")
REPORT_SERIES_NUMBERS = {str(number) for _, number in REPORT_SERIES.values()}


def workstation_report(series: dict) -> bool:
    """Whether `series` (as find lists it) holds this workstation's reports: its manufacturer, or, from a server
    that does not return the manufacturer, the series number and modality the workstation writes. A stored pair or
    follow-up report has pixels, and offered as a visit's image it would be compared as a lesion."""
    if series.get("manufacturer"):
        return series["manufacturer"] == MANUFACTURER
    return series["modality"] in REPORT_MODALITIES and str(series["number"]).strip() in REPORT_SERIES_NUMBERS


def number_images(study: dict) -> int:
    """Give each instance of `study` with pixels its number in the study, in find's order (series, then instance);
    how many images it holds."""
    index = 0
    for series in study["series"]:
        report = workstation_report(series)
        for instance in series["instances"]:
            if instance["image"] and not report:
                index += 1
                instance["index"] = index
            else:
                instance["index"] = None
    return index


def study_images(study: dict) -> list[dict]:
    """The study's images (instances with pixels) by their number, each with its series' facts."""
    return [{"index": instance["index"], "study_uid": study["study_uid"], "date": study["date"],
             "time": study["time"], "series_uid": series["series_uid"], "series_number": series["number"],
             "series_description": series["description"], "modality": series["modality"],
             "sop_uid": instance["sop_uid"], "instance_number": instance["number"],
             "body_part": instance.get("body_part") or series["body_part"],
             "laterality": instance.get("laterality") or series.get("laterality", ""),
             "columns": instance["columns"], "rows": instance["rows"], "frames": instance["frames"]}
            for series in study["series"] for instance in series["instances"]
            if instance["image"] and not workstation_report(series)]


def pick_image(study: dict, which: str, server: str) -> dict:
    """The image of `study` numbered `which` (digits: 1, 2, ...) or with SOP Instance UID `which`; PacsError in one
    line saying what the study holds when there is no such image."""
    images = study_images(study)
    which = str(which).strip()
    uid = printable(study["study_uid"], 80)
    if which.isdigit():
        if 1 <= int(which) <= len(images):
            return images[int(which) - 1]
        wanted = f"image {printable(which, 20)}"
    else:
        found = [image for image in images if image["sop_uid"] == which]
        if found:
            return found[0]
        if any(i["sop_uid"] == which for series in study["series"] for i in series["instances"]):
            raise PacsError(f"{server}: instance {printable(which, 80)} of study {uid} is a report or structured "
                            "report (no pixels, or this workstation's own): not an image to open")
        wanted = f"image with SOP Instance UID {printable(which, 80)}"
    held = {0: "it holds no images", 1: "its one image is number 1"}.get(len(images),
                                                                       f"its images are numbered 1-{len(images)}")
    raise PacsError(f"{server}: study {uid} has no {wanted} ({held}; `pacs find --study {uid}` lists them with their "
                    "SOP Instance UIDs)")


def image_facts(image: dict) -> list[str]:
    """What tells this image apart from the study's others, most telling first: its number, series description,
    series and instance number, body part, laterality, size (every value printable: the server's)."""
    facts = [f"image {image['index']}", printable(image["series_description"] or "no series description", 64)]
    numbers = [f"series {printable(image['series_number'], 12)}" if image["series_number"] else "",
               f"instance {image['instance_number']}" if image["instance_number"] else ""]
    facts.append(", ".join(n for n in numbers if n))
    facts.append(printable(image["body_part"], 32))
    laterality = image["laterality"]
    facts.append(LATERALITY.get(laterality, printable(laterality, 16)))
    frames = f", {image['frames']} frames" if image["frames"] > 1 else ""
    facts.append(f"{image['columns']}x{image['rows']} px{frames}")
    return [fact for fact in facts if fact]


def image_label(image: dict) -> str:
    """image_facts in one line."""
    return " | ".join(image_facts(image))
