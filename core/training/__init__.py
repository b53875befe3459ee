"""Training (supervised and self-supervised pretraining), its epochs, checkpoints and distributed runs.

Import rules: tests/test_structure.py (LAYERS)."""
