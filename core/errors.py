"""One exception type per domain, each carrying a one-line human message."""


class SiameseLensError(Exception):
    """Base class: every error the product reports to a user derives from it."""


class ImageLoadError(SiameseLensError):
    """An image file could not be read, or a crop box does not fit it."""


class ModelLoadError(SiameseLensError):
    """A weights file is missing, corrupt, tampered with or does not match the code."""


class DataError(SiameseLensError):
    """A training / evaluation data folder is unusable."""


class InputError(SiameseLensError, ValueError):
    """An option or value a user gave is unusable (a crop, a date, a device, a file name): the message names it and
    why. A ValueError too, as these were before, so callers that catch ValueError (the window's forms) still do; the
    command line turns only these, never any ValueError, into its one error line (cli.run)."""


class Stopped(Exception):
    """A long computation's should_stop() said so between two of its steps: there is no partial result. Not a
    SiameseLensError: nothing is wrong, the caller asked for it (closing the window, a newer job)."""
