"""What a reviewer keeps: case records, reports (PNG/PDF/DICOM) and their layout, the output writer, batch runs,
worklists, pair CSVs, the similar-case gallery and its report.

Import rules: tests/test_structure.py (LAYERS)."""
