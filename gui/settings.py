"""Where the workstation remembers things between runs (QSettings, INI format), and typed reads of them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

ORGANIZATION = "SiameseLens"
APPLICATION = "siamese-lens"


def open_settings(path: str | Path | None = None) -> QSettings:
    """The user's settings, or an INI file at `path` (tests, screenshots: never the user's real settings)."""
    if path is not None:
        return QSettings(str(path), QSettings.IniFormat)
    return QSettings(QSettings.IniFormat, QSettings.UserScope, ORGANIZATION, APPLICATION)


def read(settings: QSettings, key: str, default):
    """The stored value converted to the type of `default`; the default when missing or unreadable."""
    if not settings.contains(key):
        return default
    try:
        return settings.value(key, default, type=type(default))
    except (TypeError, ValueError):
        return default
