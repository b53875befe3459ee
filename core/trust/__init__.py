"""What the model can stand behind, at inference: calibrated probability, verdict band, out-of-domain checks
(crop and whole image), same-content detection. Fitting them is core.evaluation.calibrate's.

Import rules: tests/test_structure.py (LAYERS)."""
