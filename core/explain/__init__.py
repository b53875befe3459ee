"""Explanations of one pair's score: the pair explanation, the map methods, overlays, correspondence between
the two images, faithfulness, and the facts of an explanation as JSON-ready data.

Import rules: tests/test_structure.py (LAYERS)."""
