"""Where the workstation remembers things between runs (QSettings, INI format): the keys, typed reads, and every
write of the review's settings (method, layers, model, device, gallery, worklist, reviewer, last folder), as they
change or at the end of a run. The window's layout is the view's own (gui.views.persist)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from ..jobs.tasks import COLORMAPS, DEFAULT_METHOD, LAYERS
from .layers import SLOTS, LayerStates
from .session import ReviewSession

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
    OUTLINE = "view/outline"
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


def restore_review(settings, session: ReviewSession, layers: LayerStates) -> None:
    session.set_method(read(settings, Key.METHOD, DEFAULT_METHOD))
    for name in LAYERS:
        colormap = read(settings, colormap_key(name), layers.colormap(name))
        if colormap in COLORMAPS:  # a name from an older or newer version is ignored, not fatal
            layers.set_colormap(name, colormap)
    for slot in SLOTS:
        for name in LAYERS:
            layers.set_visible(slot, name, read(settings, layer_key(slot, name, "visible"), layers.visible(slot, name)))
            layers.set_opacity(slot, name, read(settings, layer_key(slot, name, "opacity"), layers.opacity(slot, name)))
    layers.set_outline(read(settings, Key.OUTLINE, layers.outline))


def save_review(settings, session: ReviewSession, layers: LayerStates) -> None:
    settings.setValue(Key.METHOD, session.method)
    for name in LAYERS:
        settings.setValue(colormap_key(name), layers.colormap(name))
    for slot in SLOTS:
        for name in LAYERS:
            settings.setValue(layer_key(slot, name, "visible"), layers.visible(slot, name))
            settings.setValue(layer_key(slot, name, "opacity"), layers.opacity(slot, name))
    settings.setValue(Key.OUTLINE, layers.outline)


def bind_settings(settings: QSettings, session: ReviewSession, similar, case_record) -> None:
    """Write what outlives a run as it changes: the model and device in use, the gallery, the reviewer's name."""

    def model_changed(ready) -> None:
        settings.setValue(Key.MODEL_PATH, ready.path or "")
        settings.setValue(Key.MODEL_DEVICE, ready.requested_device)

    session.model_changed.connect(model_changed)
    similar.gallery_changed.connect(lambda path: settings.setValue(Key.GALLERY, path or ""))
    case_record.changed.connect(lambda record: settings.setValue(Key.REVIEWER, record.reviewer)
                                if record.reviewer else None)


def remember(settings: QSettings, key: str, value) -> None:
    """One setting written at once (the worklist opened, the last folder used)."""
    settings.setValue(key, value)
