"""What the network sees of an image: the automatic lesion crop and the square, colour-corrected input.

One home for the preprocessing, so the model (explain, the GUI, the API) and the training and evaluation
caches cannot drift apart: a model trained on cropped, colour-corrected images is always shown such images.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from core.model.lesion import Lesion, crop_box, find_lesion, shades_of_gray, vignette_mask

CropBox = tuple[int, int, int, int]


def lesion_view(image: Image.Image, margin: float) -> tuple[Image.Image, CropBox, np.ndarray]:
    """(image cropped to its automatic lesion box, the box in original pixels, the lesion mask inside it)."""
    lesion: Lesion = find_lesion(np.asarray(_rgb(image)))
    x, y, w, h = box = crop_box(lesion, image.size, margin)
    return image.crop((x, y, x + w, y + h)), box, lesion.mask[y:y + h, x:x + w]


def square_input(image: Image.Image, size: int, color_constancy: bool) -> Image.Image:
    """Resize to size x size (not centre-cropped: every pixel is seen and maps cover it all), then remove the
    colour cast (Shades of Gray, the dermoscope's dark vignette left out of the illuminant estimate)."""
    resized = _rgb(image).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    if not color_constancy:
        return resized
    rgb = np.asarray(resized)
    return Image.fromarray(shades_of_gray(rgb, valid=~vignette_mask(rgb)))


def _rgb(image: Image.Image) -> Image.Image:
    # convert() copies even an RGB image: 48 MB for a 12 Mpx one, twice per explanation
    return image if image.mode == "RGB" else image.convert("RGB")
