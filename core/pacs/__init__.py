"""A clinic's PACS over DICOMweb: the connection (credentials, TLS, timeouts, one-line errors) and what is done
with it (find a patient's studies, pull their images, store a report into its study).

Import rules: tests/test_structure.py (LAYERS)."""
