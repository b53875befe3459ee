"""One exception type per domain, each carrying a one-line human message."""


class SiameseLensError(Exception):
    """Base class: every error the product reports to a user derives from it."""


class ImageLoadError(SiameseLensError):
    """An image file could not be read, or a crop box does not fit it."""


class ModelLoadError(SiameseLensError):
    """A weights file is missing, corrupt, tampered with or does not match the code."""


class DataError(SiameseLensError):
    """A training / evaluation data folder is unusable."""
