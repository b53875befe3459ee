"""Siamese Lens core: images, the Siamese model, explanations, training and evaluation. No Qt here.

The public API is imported lazily, so that `import cli.parser` or `core.paths` (the window's start-up path)
does not pay for importing torch.
"""

from importlib import import_module

_API = {
    "load_model": "core.model.weights",
    "load_image": "core.io.images",
    "explain_pair": "core.explain.pair",
    "Explanation": "core.explain.pair",
    "ImageLoadError": "core.errors",
    "ModelLoadError": "core.errors",
    "DataError": "core.errors",
    "SiameseLensError": "core.errors",
}

__all__ = list(_API)


def __getattr__(name):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'core' has no attribute {name!r}")
