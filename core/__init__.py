"""Siamese Lens core: images, the Siamese model, explanations, training and evaluation. No Qt here."""

from .errors import DataError, ImageLoadError, ModelLoadError, SiameseLensError
from .explain import Explanation, explain_pair
from .images import load_image
from .weights import load_model

__all__ = ["load_model", "load_image", "explain_pair", "Explanation", "ImageLoadError", "ModelLoadError", "DataError",
           "SiameseLensError"]
