"""The same lesion at two visits: registration, lesion outlines on both, measurements and the follow-up result.

Import rules: tests/test_structure.py (LAYERS)."""
