"""DICOM in and out, with pydicom: read a photographic image (VL photographic, secondary capture: dermoscopy as a
PACS exports it) with its patient, body site and acquisition date and the identity it files under (DicomSource);
write a report as a Secondary Capture image that carries the case record and, made from DICOM images, files with
them: their patient and study, a new series naming the report's kind, references to the source instances.

A DICOM file is data, never code: pydicom parses it, nothing in it is executed. Any failure is one ValueError
line (core.io.images turns it into the ImageLoadError naming the file).
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, fields
from datetime import datetime

import numpy as np
from PIL import Image

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
# Each report kind's new series: its description and number. A fixed number far above a camera's series (1, 2..)
# tells the workstation's series apart in a PACS viewer; several reports in one study may share it (Type 2 value).
REPORT_SERIES = {"pair": ("Siamese Lens pair comparison", 9901), "follow-up": ("Siamese Lens follow-up", 9902),
                 "similar cases": ("Siamese Lens similar cases", 9903),
                 "measurements": ("Siamese Lens measurements (SR)", 9911)}
MANUFACTURER = "Siamese Lens"  # every report object's Manufacturer: how the workstation knows its own on a PACS


@dataclass(frozen=True)
class DicomSource:
    """Who and what a DICOM image belongs to, as its file spells them: the patient and study modules a report made
    from it copies (so the report files with the image), and the instance the report references. Field names are
    the DICOM keywords."""

    PatientName: str = ""
    PatientID: str = ""
    IssuerOfPatientID: str = ""
    PatientBirthDate: str = ""
    PatientSex: str = ""
    PatientAge: str = ""
    StudyInstanceUID: str = ""
    StudyDate: str = ""
    StudyTime: str = ""
    AccessionNumber: str = ""
    ReferringPhysicianName: str = ""
    StudyID: str = ""
    StudyDescription: str = ""
    SeriesInstanceUID: str = ""
    SOPClassUID: str = ""
    SOPInstanceUID: str = ""

    def same_patient(self, other: "DicomSource") -> bool:
        return (self.PatientID, self.IssuerOfPatientID) == (other.PatientID, other.IssuerOfPatientID)


# What a report copies of its primary source (patient module; patient study's age; general study): Type 2 ones are
# written even when empty, as the modules require.
PATIENT_STUDY_KEYWORDS = tuple(f.name for f in fields(DicomSource) if not f.name.startswith(("Series", "SOP")))
TYPE2_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                  "AccessionNumber", "ReferringPhysicianName", "StudyID")


@dataclass(frozen=True)
class Filing:
    """Where a report made from DICOM images files: `sources[0]`'s patient and study, a new series of `kind`
    (a REPORT_SERIES key), referencing every source instance."""

    kind: str
    sources: tuple[DicomSource, ...]


def report_filing(images, kind: str, primary: int = 0) -> Filing | None:
    """The Filing of a report of `kind` made from `images` (core.io.images.LoadedImage; `.dicom` set for DICOM
    files): the image at `primary` when it is DICOM, else the first DICOM one, gives patient and study; the others
    of the same patient are referenced too (another patient's image is never named in this patient's file). None
    when no image is DICOM: the report then stands alone, as a pseudonymised case record."""
    sources = [getattr(image, "dicom", None) for image in images]
    ordered = [sources[primary], *sources[:primary], *sources[primary + 1:]] if 0 <= primary < len(sources) else sources
    present = [source for source in ordered if source is not None]
    if not present or kind not in REPORT_SERIES:
        return None
    first = present[0]
    unique = {s.SOPInstanceUID: s for s in present if s.same_patient(first) and s.SOPInstanceUID}
    return Filing(kind, tuple(unique.values()) or (first,))


def read_dicom(path, max_pixels: int) -> tuple[Image.Image, dict, DicomSource]:
    """(the first frame as an RGB PIL image, the case fields the file carries: patient_id, body_site, acquired
    and case_id where present, the identity it files under). ValueError with one line for anything unreadable."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():  # pydicom warns about each odd value: the one-line error decides
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a readable DICOM file ({_line(exc)})") from None
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if "PixelData" not in ds or rows <= 0 or columns <= 0:
        raise ValueError("DICOM file holds no image (no pixel data)")
    if rows * columns > max_pixels:
        raise ValueError(f"DICOM image is too large ({columns} x {rows} pixels)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001  pydicom's decoders raise many kinds on hostile or unsupported data
        raise ValueError(f"DICOM pixel data cannot be decoded ({_line(exc)})") from None
    return Image.fromarray(_to_rgb8(ds, pixels)), _case_fields(ds), dicom_source(ds)


def dicom_source(ds) -> DicomSource:
    """A dataset's DicomSource; a value pydicom cannot decode is left empty rather than failing the image."""
    values = {}
    for keyword in (f.name for f in fields(DicomSource)):
        try:
            value = ds.get(keyword, "")
            values[keyword] = "" if value is None else str(value).strip()
        except (ValueError, TypeError, KeyError, AttributeError):
            values[keyword] = ""
    return DicomSource(**values)


def _to_rgb8(ds, pixels: np.ndarray) -> np.ndarray:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        pixels = pixels[0]
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if samples == 3:
        if photometric.startswith("YBR") and "PixelData" in ds and not ds.file_meta.TransferSyntaxUID.is_compressed:
            from pydicom.pixels import convert_color_space

            pixels = convert_color_space(pixels, photometric, "RGB")
        if pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(f"DICOM colour image has an unexpected shape {pixels.shape}")
        return _to_uint8(pixels)
    if pixels.ndim != 2:
        raise ValueError(f"DICOM image has an unexpected shape {pixels.shape}")
    grey = _to_uint8(pixels)
    if photometric == "MONOCHROME1":  # 0 is white there
        grey = 255 - grey
    return np.repeat(grey[:, :, None], 3, axis=2)


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return np.ascontiguousarray(pixels)
    values = pixels.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    return np.round((values - low) / (high - low) * 255).astype(np.uint8)


def _case_fields(ds) -> dict:
    """What the file says of the case, as core.review.case_record keys (empty ones left out)."""
    site = str(ds.get("BodyPartExamined", "") or "")
    if not site and ds.get("AnatomicRegionSequence"):
        site = str(ds.AnatomicRegionSequence[0].get("CodeMeaning", "") or "")
    acquired = ""
    for keyword in ("AcquisitionDate", "ContentDate", "StudyDate", "SeriesDate"):
        if ds.get(keyword):
            acquired = str(ds.get(keyword))
            break
    fields = {"patient_id": str(ds.get("PatientID", "") or ""), "body_site": site, "acquired": acquired,
              "case_id": str(ds.get("AccessionNumber", "") or ""), "pixel_size_mm": _pixel_size(ds)}
    return {key: value.strip() for key, value in fields.items() if value and value.strip()}


def _pixel_size(ds) -> str:
    """PixelSpacing (mm, row then column) as one size when the pixels are square (within 1 %), else ""."""
    try:
        rows, columns = (float(v) for v in ds.get("PixelSpacing") or ())
    except (TypeError, ValueError):
        return ""
    if not (rows > 0 and columns > 0) or abs(rows - columns) > 0.01 * max(rows, columns):
        return ""
    return repr((rows + columns) / 2.0)


def secondary_capture(picture: Image.Image, facts: dict, filing: Filing | None = None) -> bytes:
    """The report picture as a DICOM Secondary Capture (RGB, explicit VR little endian) carrying the case record
    of `facts` (core.review.report.report_facts): patient id, accession (case) number, body site, the reviewer, the
    model's verdict in the series description and the disclaimer as the image comments. With a `filing` it joins
    its source's patient and study as a new series and references the source instances; without one it is a study
    of its own."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    rgb = np.asarray(picture.convert("RGB"))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = filed_dataset(facts, filing, "follow-up" if facts.get("kind") == "followup" else "pair")
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SECONDARY_CAPTURE, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.ConversionType = "OT", "WSD"  # other; workstation
    ds.BodyPartExamined = re.sub(r"[^A-Z0-9 _]", " ", (facts.get("body_site") or "").upper())[:16]  # a CS value
    ds.ImageComments = f"Body site: {facts.get('body_site') or '-'}. {facts.get('disclaimer', '')}"
    ds.OperatorsName = facts.get("reviewer") or ""
    ds.BurnedInAnnotation = "YES"  # the page prints the case and patient ids
    ds.InstanceNumber = 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.Rows, ds.Columns = rgb.shape[0], rgb.shape[1]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = rgb.tobytes()
    if filing is not None:
        from pydicom.dataset import Dataset

        def references():
            items = []
            for source in filing.sources:
                if not source.SOPInstanceUID:  # a malformed source: its study is copied, nothing to point at
                    continue
                item = Dataset()
                item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = source.SOPClassUID, source.SOPInstanceUID
                items.append(item)
            return items

        ds.SourceImageSequence, ds.ReferencedImageSequence = references(), references()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def filed_dataset(facts: dict, filing: Filing | None, default_kind: str):
    """A new dataset with what every report object shares: character set, patient and study (the filing's first
    source's, else a new study with the facts' pseudonymised ids), a new series of the filing's kind (the verdict in
    its description), the equipment (manufacturer, model, software version, weights digest) and content date/time."""
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: a patient's name is copied as the source spells it
    now = datetime.now()
    created = (facts.get("created") or "")[:10].replace("-", "") or now.strftime("%Y%m%d")
    if filing is not None:
        source = filing.sources[0]
        for keyword in PATIENT_STUDY_KEYWORDS:
            value = getattr(source, keyword)
            if value or keyword in TYPE2_KEYWORDS:
                setattr(ds, keyword, value)
        kind = filing.kind
    else:
        ds.StudyInstanceUID = generate_uid()
        ds.PatientID, ds.PatientName = facts.get("patient_id") or "", ""
        ds.PatientBirthDate = ds.PatientSex = ds.ReferringPhysicianName = ds.StudyID = ""
        ds.AccessionNumber = (facts.get("case_id") or "")[:16]
        ds.StudyDate, ds.StudyTime = created, now.strftime("%H%M%S")
        kind = default_kind
    description, number = REPORT_SERIES[kind]
    # a follow-up's series, its report's and its SR's, leads with what changed (a reader of the series list sees that
    # first: the SR's said "measurements (SR): similar" of a lesion grown 55 %), others with the verdict
    summary = facts.get("change_headline") or facts.get("verdict") or ""
    ds.SeriesInstanceUID, ds.SeriesNumber = generate_uid(), number
    ds.SeriesDescription = _clauses_within(f"{description}: {summary}", 64) if summary else description
    ds.Manufacturer = MANUFACTURER
    for keyword, value in equipment(facts).items():
        setattr(ds, keyword, value)
    ds.ContentDate, ds.ContentTime = created, now.strftime("%H%M%S")
    return ds


EQUIPMENT_KEYWORDS = ("ManufacturerModelName", "SoftwareVersions", "DeviceSerialNumber")


def equipment(facts: dict) -> dict:
    """The general equipment attributes that make a report auditable without its rendered page: the model that
    produced it as the equipment's model name, the application's version as its software version, and the model's
    weights sha256 as its serial number (the equipment is the trained model: the digest names that one instance of
    it, as a serial number names one device; 64 hex digits fill a LO exactly). What the facts do not record is left
    out, never guessed."""
    model, app = facts.get("model") or {}, facts.get("app") or {}
    values = {"ManufacturerModelName": str(model.get("name") or "")[:64],
              "SoftwareVersions": str(app.get("version") or "")[:64],
              "DeviceSerialNumber": str(model.get("sha256") or "")[:64]}
    return {keyword: value for keyword, value in values.items() if value}


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


def _clauses_within(text: str, limit: int) -> str:
    """`text` cut to `limit` characters (a DICOM LO) at the end of a clause, marked "...": cut anywhere, "diameter
    +15 %" could read "diameter +1"."""
    if len(text) <= limit:
        return text
    head = text[:limit - 3]
    cut = max(head.rfind(", "), head.rfind(": "))
    return (head[:cut] if cut > 0 else head.rstrip()) + "..."
