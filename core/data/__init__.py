"""Labelled data sets on disk (folder per class, splits, pairs, the uint8 image cache) and augmentation.

Import rules: tests/test_structure.py (LAYERS)."""
