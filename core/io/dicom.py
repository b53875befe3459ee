"""DICOM in and out, with pydicom: read a photographic image (VL photographic, secondary capture: dermoscopy as a
PACS exports it) with its patient, body site and acquisition date; write a report as a Secondary Capture image
that carries the case record, so the report can go back into the patient file.

A DICOM file is data, never code: pydicom parses it, nothing in it is executed. Any failure is one ValueError
line (core.io.images turns it into the ImageLoadError naming the file).
"""

from __future__ import annotations

import io
import re
import warnings
from datetime import datetime

import numpy as np
from PIL import Image

MAGIC_OFFSET = 128  # a DICOM file's preamble, then b"DICM"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def is_dicom(path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(MAGIC_OFFSET)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read_dicom(path, max_pixels: int) -> tuple[Image.Image, dict]:
    """(the first frame as an RGB PIL image, the case fields the file carries: patient_id, body_site, acquired
    and case_id where present). ValueError with one line for anything unreadable."""
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
    return Image.fromarray(_to_rgb8(ds, pixels)), _case_fields(ds)


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


def secondary_capture(picture: Image.Image, facts: dict) -> bytes:
    """The report picture as a DICOM Secondary Capture (RGB, explicit VR little endian) carrying the case record
    of `facts` (core.review.report.report_facts): patient id, accession (case) number, body site, the reviewer, the
    model's verdict as the series description and the disclaimer as the image comments."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    rgb = np.asarray(picture.convert("RGB"))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    now = datetime.now()
    created = facts.get("created", "")[:10].replace("-", "") or now.strftime("%Y%m%d")
    ds.SOPClassUID, ds.SOPInstanceUID = SECONDARY_CAPTURE, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.ConversionType = "OT", "WSD"  # other; workstation
    ds.PatientID = facts.get("patient_id") or ""
    ds.PatientName = ""
    ds.AccessionNumber = (facts.get("case_id") or "")[:16]
    ds.BodyPartExamined = re.sub(r"[^A-Z0-9 _]", " ", (facts.get("body_site") or "").upper())[:16]  # a CS value
    ds.ImageComments = f"Body site: {facts.get('body_site') or '-'}. {facts.get('disclaimer', '')}"
    ds.OperatorsName = facts.get("reviewer") or ""
    ds.ContentDate = ds.StudyDate = created
    ds.ContentTime = ds.StudyTime = now.strftime("%H%M%S")
    # a follow-up's series says so and leads with its change (a reader of the series list sees that first)
    description = (f"Siamese Lens follow-up: {facts.get('change_headline') or ''}" if facts.get("kind") == "followup"
                   else f"Siamese Lens comparison: {facts.get('verdict', '')}")
    ds.SeriesDescription = description[:64]
    ds.Manufacturer, ds.SeriesNumber, ds.InstanceNumber = "Siamese Lens", 1, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.Rows, ds.Columns = rgb.shape[0], rgb.shape[1]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = rgb.tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]
