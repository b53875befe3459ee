"""The application's version, shown by --version, in reports and in the window title."""

__version__ = "0.1.0"
APP_NAME = "Siamese Lens"
