"""Where the workstation remembers things between runs (QSettings, INI format), and typed reads of them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

ORGANIZATION = "SiameseLens"
APPLICATION = "siamese-lens"


def open_settings(path: str | Path | None = None) -> QSettings:
    """The user's settings, or an INI file at `path` (tests, screenshots: never the user's real settings)."""
    if path is not None:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def read(settings: QSettings, key: str, default):
    """The stored value converted to the type of `default`; the default when missing or unreadable."""
    if not settings.contains(key):
        return default
    try:
        return settings.value(key, default, type=type(default))
    except (TypeError, ValueError):
        return default

class Key:
    """Every key the workstation stores, in one place (the layers' own keys: layer_key, colormap_key); no other
    module spells one (tests/gui/test_settings_store.py), so a renamed key can never leave a reader behind."""

    LAST_FOLDER = "files/last_folder"
    MODEL_DEVICE = "model/device"
    MODEL_PATH = "model/path"
    PACS_URL = "pacs/url"  # the address only: credentials are never settings (docs/pacs.md)
    REVIEWER = "review/reviewer"
    GALLERY = "similar/gallery"
    METHOD = "view/method"
    SYNC = "view/sync"
    GEOMETRY = "window/geometry"
    SPLITTER = "window/splitter"
    WINDOW_STATE = "window/state"
    WORKLIST = "worklist/path"


def layer_key(slot: int, name: str, field: str) -> str:
    """A layer's stored visibility or opacity: layers/SLOT/NAME/FIELD."""
    return f"layers/{slot}/{name}/{field}"


def colormap_key(name: str) -> str:
    """A layer's stored colormap: view/colormap/NAME."""
    return f"view/colormap/{name}"

