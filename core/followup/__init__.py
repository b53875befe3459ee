"""The same lesion at two or more visits: registration, lesion outlines, measurements, the follow-up result and a
lesion's history.

Import rules: tests/test_structure.py (LAYERS)."""
