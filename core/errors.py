"""One exception type per domain, each carrying a one-line human message."""


class SiameseLensError(Exception):
    """Base class: every error the product reports to a user derives from it."""


class ImageLoadError(SiameseLensError):
    """An image file could not be read, or a crop box does not fit it."""


class ModelLoadError(SiameseLensError):
    """A weights file is missing, corrupt, tampered with or does not match the code."""


class DataError(SiameseLensError):
    """A training / evaluation data folder is unusable."""


class Stopped(Exception):
    """A long computation's should_stop() said so between two of its steps: there is no partial result. Not a
    SiameseLensError: nothing is wrong, the caller asked for it (closing the window, a newer job)."""
