"""A rendered report page as the file its name asks for: PNG, PDF (reportlab) or DICOM Secondary Capture
(core.io.dicom). One page picture, so the three formats cannot disagree; the JSON sidecar beside each holds the
facts as data."""

from __future__ import annotations

import io

from PIL import Image

REPORT_SUFFIXES = (".png", ".pdf", ".dcm")
PDF_DPI = 150  # the page picture's resolution on paper: 1124 px wide is about 19 cm, inside an A4 page's margins


def encode(picture: Image.Image, suffix: str, facts: dict, filing=None) -> bytes:
    """`picture` as a `suffix` file; a DICOM one files with its sources when `filing` (core.io.dicom.Filing) says
    where."""
    suffix = suffix.lower()
    if suffix == ".pdf":
        return _pdf(picture, facts)
    if suffix == ".dcm":
        from core.io.dicom import secondary_capture

        return secondary_capture(picture, facts, filing)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _pdf(picture: Image.Image, facts: dict) -> bytes:
    """The page picture on A4 pages, cut into page-high slices when taller than a page, with the document's title,
    author (the reviewer) and subject (case and verdict) set, so a document archive can index it."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    page_width, page_height = A4
    margin = 36.0  # points: half an inch
    scale = min(1.0, (page_width - 2 * margin) / (picture.width * 72.0 / PDF_DPI)) * 72.0 / PDF_DPI  # pt per px
    slice_px = int((page_height - 2 * margin) / scale)
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)  # invariant: the same facts give the same bytes
    pdf.setTitle(f"Siamese Lens comparison report {facts.get('case_id') or ''}".strip())
    pdf.setAuthor(facts.get("reviewer") or "")
    pdf.setSubject(f"case {facts.get('case_id') or '-'}, verdict {facts.get('verdict', '-')}")
    rgb = picture.convert("RGB")
    for top in range(0, rgb.height, slice_px):
        part = rgb.crop((0, top, rgb.width, min(rgb.height, top + slice_px)))
        width, height = part.width * scale, part.height * scale
        pdf.drawImage(ImageReader(part), margin, page_height - margin - height, width, height)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()
