"""Measuring a model on a data set: pair metrics, selective accuracy, k-NN probe, lesion lift, test-time
augmentation choice and fitting the trust metadata (calibrate).

Import rules: tests/test_structure.py (LAYERS)."""
