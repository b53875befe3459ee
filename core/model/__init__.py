"""The Siamese network and what it needs to run: network, weights files, devices, preprocessing, the lesion
finder, test-time augmentation, the similarity formula and nearest-neighbour search over embeddings.

Import rules: tests/test_structure.py (LAYERS)."""
