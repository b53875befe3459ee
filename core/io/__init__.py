"""Files and pictures: atomic writes and hashes, image loading (JPEG/PNG/TIFF/DICOM) with its size and scale,
DICOM, PNG text chunks, fonts, wrapped text and small charts. Imports nothing of core but its base modules.

Import rules: tests/test_structure.py (LAYERS)."""
