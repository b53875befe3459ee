"""The measurements of a comparison or a follow-up as a DICOM Structured Report (highdicom: Comprehensive 3D SR
holding a TID 1500 Measurement Report), filed like the picture report (core.io.dicom.Filing): the source study,
a new series, the source images as evidence.

    measurement_sr(facts, filing, images) -> bytes (a DICOM file)
    write_sr(path, facts, filing, images, overwrite) -> [path] (written whole, or nested in a report's unit)

facts   a follow-up report's facts (core.review.followup_report.followup_report_facts) or a pair report's sidecar
        facts (core.review.report.sidecar_facts); read only through _values, the one place that knows their keys.
filing  where the SR files (core.io.dicom.report_filing); an SR needs DICOM source images (an SR of nothing could
        not be filed).
images  the two images measured (core.io.images.LoadedImage): each measurement group names its image's instance.

Each image is one measurement group (tracking identifier, the model as the algorithm, the image as its source):
lesion area and longest diameter (mm / mm2 when the pixel size is known, their measurement method saying where
that size came from: the file's PixelSpacing, or typed by the reviewer, over the file's own or not; else in
pixels), and in the follow-up visit's group the changes with their uncertainty and the model's verdict as a
qualitative evaluation. The model is also the observer device (name, weights sha256). Concepts without a standard
code (the changes, the verdict, the similarity, the pixel size's source) use the private coding scheme
PRIVATE_SCHEME.
"""

from __future__ import annotations

import io
from pathlib import Path

from core.io.dicom import EQUIPMENT_KEYWORDS, MANUFACTURER, Filing, filed_dataset
from core.io.files import first_line, printable, write_unit
from core.review.report import ReportError
from core.trust.verdict import withholds

PRIVATE_SCHEME = "99SLENS"  # "99" prefix: a private coding scheme (DICOM PS3.16 8.2)


def measurement_sr(facts: dict, filing: Filing | None, images) -> bytes:
    """The SR as the bytes of a DICOM file; ValueError (one line) when it has no DICOM source to file with."""
    if filing is None:
        raise ValueError("a measurement SR needs DICOM source images (it files into their study)")
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    values = _values(facts)
    model = facts.get("model") or {}
    name, digest = str(model.get("name") or "unnamed model"), str(model.get("sha256") or "unknown")
    algorithm = hd.sr.AlgorithmIdentification(name=name[:64], version=digest[:64])
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=generate_uid(entropy_srcs=[name, digest]), name=name[:64], manufacturer_name=MANUFACTURER,
        model_name=name[:64], serial_number=digest[:64])
    context = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device, observer_identifying_attributes=device))
    groups = []
    filed = {source.SOPInstanceUID for source in filing.sources}
    for index, image in enumerate(values["images"]):
        source = getattr(images[index], "dicom", None) if index < len(images) else None
        referenced = source is not None and source.SOPInstanceUID in filed  # never another patient's image
        measurements = [_measurement(hd, concept, item, algorithm) for concept, item in image["measurements"]]
        evaluations = []
        if index == len(values["images"]) - 1:  # the latest image carries what compares the two
            measurements += [_measurement(hd, concept, item, algorithm) for concept, item in values["changes"]]
            if values["verdict"]:
                evaluations.append(hd.sr.QualitativeEvaluation(
                    _private("VERDICT", "Model verdict on appearance"),
                    _private(values["verdict"].upper().replace(" ", "-"), values["verdict"])))
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=image["label"]),
            algorithm_id=algorithm, measurements=measurements or None, qualitative_evaluations=evaluations or None,
            source_images=[hd.sr.SourceImageForMeasurementGroup(source.SOPClassUID, source.SOPInstanceUID)]
            if referenced and source is not None else None))
    report = hd.sr.MeasurementReport(observation_context=context,
                                     procedure_reported=_private("DERMOSCOPY-COMPARISON",
                                                                 "Dermoscopy image comparison"),
                                     imaging_measurements=groups)
    base = filed_dataset(facts, Filing("measurements", filing.sources), "measurements")
    evidence = [_evidence(base, source) for source in filing.sources]
    sr = hd.sr.Comprehensive3DSR(evidence=evidence, content=report, series_instance_uid=base.SeriesInstanceUID,
                                 series_number=base.SeriesNumber, sop_instance_uid=generate_uid(), instance_number=1,
                                 manufacturer=MANUFACTURER, is_complete=True, is_final=False, is_verified=False)
    sr.SeriesDescription = base.SeriesDescription
    for keyword in EQUIPMENT_KEYWORDS:  # the same equipment as the picture report's (core.io.dicom.equipment)
        if keyword in base:
            setattr(sr, keyword, base[keyword].value)
    sr.ContentDate, sr.ContentTime = base.ContentDate, base.ContentTime
    buffer = io.BytesIO()
    sr.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_sr(path, facts: dict, filing: Filing | None, images, overwrite: bool) -> list[Path]:
    """Write the SR of `facts` to `path` as a unit of its own (core.io.files.write_unit); the files placed. Nested in
    a report's writing (its `before_renames`), the SR is built and written once the report's temporaries are, and
    the report, its sidecar and the SR are placed together or not at all. ReportError naming `path` in one line
    when the SR cannot be built (highdicom refuses the facts) or written; its folder is made when missing."""
    path = Path(path)
    try:
        data = measurement_sr(facts, filing, images)
    except MemoryError:
        raise
    except Exception as exc:  # highdicom's own errors (ValueError, AttributeError...) are not the user's to read
        raise ReportError(f"{printable(path)}: cannot write the measurement SR ({first_line(exc)})") from None
    try:
        return write_unit([(path, data)], overwrite=overwrite)
    except FileExistsError:
        raise
    except OSError as exc:
        # the reason alone: the file it names may be a temporary the user never asked for
        reason = printable(exc.strerror or first_line(exc))
        raise ReportError(f"{printable(path)}: cannot write the measurement SR ({reason})") from None


def _values(facts: dict) -> dict:
    """The one adapter from report facts to what the SR states: {"images": [{"label", "measurements":
    [(concept, (value, unit, uncertainty, method))]}], "changes": [...], "verdict": str}. Tolerant of keys a version of
    the facts lacks: what is missing or not a number is left out, never guessed."""
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    pixels = Code("{pixels}", "UCUM", "pixels")  # UCUM's annotation of a count: no physical size known
    measured = facts.get("measurements")
    entries = []
    labels = ("baseline", "follow-up") if measured is not None else ("image 1", "image 2")
    for index, label in enumerate(labels):
        found: list = []
        m = measured[index] if measured and index < len(measured) else None
        if m and m.get("found", True):
            mm = _number(m.get("area_mm2")) is not None
            area = (m.get("area_mm2"), codes.UCUM.SquareMillimeter) if mm else (m.get("area_px"), pixels)
            diameter = (m.get("diameter_mm"), codes.UCUM.Millimeter) if mm else (m.get("diameter_px"), pixels)
            method = _scale_method(m.get("pixel_scale")) if mm else None
            found += [(codes.SCT.Area, (area[0], area[1], None, method)),
                      (codes.SCT.LongAxis, (diameter[0], diameter[1], None, method))]
        kept = [(concept, item) for concept, item in found if _number(item[0]) is not None]
        entries.append({"label": f"lesion, {label}", "measurements": kept})
    changes = []
    for key, meaning in (("area_change", "Lesion area, follow-up to baseline ratio"),
                         ("diameter_change", "Longest diameter, follow-up to baseline ratio")):
        if _number(facts.get(key)) is not None:
            changes.append((_private(key.upper().replace("_", "-"), meaning),
                            (facts[key], codes.UCUM.NoUnits, _number(facts.get(f"{key}_uncertainty")), None)))
    # a pair not assessed (an image outside the domain) states no similarity: it would be an extrapolation. Read
    # from the verdict, which every version of the facts holds (a report's, or an explanation's alone)
    if _number(facts.get("similarity")) is not None and not withholds(facts.get("verdict"), facts.get("in_domain")):
        changes.append((_private("SIMILARITY", "Model similarity of the two images"),
                        (100.0 * float(facts["similarity"]), codes.UCUM.Percent, None, None)))
    return {"images": entries, "changes": changes, "verdict": str(facts.get("verdict") or "")}


def _scale_method(scale: dict | None):
    """A mm figure's measurement method: where its pixel size came from (core.followup.visits.pixel_scale), so the
    SR keeps whether the reviewer typed it, over the file's own spacing or not; None for facts without it."""
    if not scale or scale.get("source") not in ("typed", "file"):
        return None
    if scale["source"] == "file":
        return _private("PXSIZE-FILE", "Pixel size from the image file's PixelSpacing")
    own, typed = _number(scale.get("file_pixel_size_mm")), _number(scale.get("pixel_size_mm"))
    if own is not None and typed is not None and abs(own - typed) > 1e-9 * own:
        return _private("PXSIZE-TYPED-OVR", "Pixel size typed by the reviewer over the file's own spacing")
    return _private("PXSIZE-TYPED", "Pixel size typed by the reviewer")


def _measurement(hd, concept, item, algorithm):
    value, unit, uncertainty, method = item
    properties = None
    if uncertainty is not None:
        properties = hd.sr.MeasurementProperties(upper_measurement_uncertainty=float(uncertainty),
                                                 lower_measurement_uncertainty=float(uncertainty))
    return hd.sr.Measurement(name=concept, value=float(value), unit=unit, algorithm_id=algorithm,
                             method=method, properties=properties)


def _evidence(base, source):
    """A source image as the evidence highdicom references: its identity, nothing of its pixels."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SpecificCharacterSet = base.SpecificCharacterSet
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                    "StudyTime", "AccessionNumber", "ReferringPhysicianName", "StudyID", "SeriesInstanceUID",
                    "SOPClassUID", "SOPInstanceUID"):
        setattr(ds, keyword, getattr(source, keyword))
    return ds


def _private(value: str, meaning: str):
    import highdicom as hd

    return hd.sr.CodedConcept(value=value[:16], scheme_designator=PRIVATE_SCHEME, meaning=meaning[:64])


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None
