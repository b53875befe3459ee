"""Generated DICOM dermoscopy visits of one patient (VL Photographic Image, RGB, with pixel spacing), as a clinic's
PACS would hold them: the source images of the filing, SR and PACS tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

VL_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4"
PATIENT = {"PatientName": "Muster^Erika", "PatientID": "PAT-7", "IssuerOfPatientID": "CLINIC",
           "PatientBirthDate": "19700401", "PatientSex": "F"}


def lesion_rgb(seed: int = 4, growth: float = 1.0, size: int = 160) -> np.ndarray:
    """A brown lesion on textured skin; `growth` scales its axes."""
    rng = np.random.default_rng(seed)
    skin = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 1.5)
    rgb = np.clip(np.array([210, 165, 150]) + 60 * skin[..., None], 0, 255).astype(np.uint8)
    axes = (round(26 * growth), round(18 * growth))
    cv2.ellipse(rgb, (size // 2, size // 2), axes, 30, 0, 360, (95, 55, 40), -1)
    return rgb


def visit_dataset(rgb: np.ndarray, study_uid: str, date: str, accession: str, patient: dict | None = None,
                  spacing_mm: float | None = 0.05) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = VL_PHOTOGRAPHIC
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    for keyword, value in (patient or PATIENT).items():
        setattr(ds, keyword, value)
    ds.SOPClassUID, ds.SOPInstanceUID = VL_PHOTOGRAPHIC, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid()
    ds.StudyDate = ds.ContentDate = ds.AcquisitionDateTime = date
    ds.StudyTime = ds.ContentTime = "101500"
    ds.AccessionNumber, ds.StudyID, ds.ReferringPhysicianName = accession, f"S{accession[-2:]}", "Haus^Gregor"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "XC", 1, 1
    ds.BodyPartExamined = "BACK"
    ds.Manufacturer = "Test Dermatoscope"
    if spacing_mm:
        ds.PixelSpacing = [spacing_mm, spacing_mm]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(rgb, np.uint8).tobytes()
    return ds


def write_visits(folder: Path, patient: dict | None = None) -> tuple[Path, Path]:
    """A baseline and a follow-up (the lesion grown by 15 %) of `patient`, each in a study of its own."""
    paths = []
    for index, (date, growth) in enumerate((("20260110", 1.0), ("20260712", 1.15))):
        ds = visit_dataset(lesion_rgb(growth=growth), generate_uid(), date, f"ACC-00{index + 1}", patient)
        path = Path(folder) / f"visit{index + 1}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths[0], paths[1]


# A dermoscopy visit of several images: an overview and two close-ups, each a series of its own (as a camera or a
# dermatoscope files them), of different sizes and, for the close-ups, a laterality.
VISIT_IMAGES = (("Overview", 200, ""), ("Close-up lesion A", 160, "L"), ("Close-up lesion B", 128, "R"))


def write_visit_of_images(folder: Path, patient: dict | None = None, date: str = "20260915") -> list[Path]:
    """One study of `patient` holding VISIT_IMAGES (series 1, 2, 3 in that order), each a different picture."""
    study_uid, paths = generate_uid(), []
    for number, (description, size, laterality) in enumerate(VISIT_IMAGES, 1):
        ds = visit_dataset(lesion_rgb(seed=20 + number, growth=0.6 + 0.2 * number, size=size), study_uid, date,
                           "ACC-030", patient)
        ds.SeriesNumber, ds.SeriesDescription = number, description
        if laterality:
            ds.ImageLaterality = laterality
        path = Path(folder) / f"image{number}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
