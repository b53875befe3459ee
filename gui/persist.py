"""What the workstation remembers between runs: the window's geometry, docks and splitter, and the review
settings (method, each layer's visibility, opacity and colormap, synchronised views). Model, device, gallery,
worklist and last folder are stored as they change."""

from __future__ import annotations

from .layers import SLOTS, LayerStates
from .session import ReviewSession
from .settings import read
from .tasks import COLORMAPS, DEFAULT_METHOD, LAYERS


def restore_review(settings, session: ReviewSession, layers: LayerStates) -> None:
    session.set_method(read(settings, "view/method", DEFAULT_METHOD))
    for name in LAYERS:
        colormap = read(settings, f"view/colormap/{name}", layers.colormap(name))
        if colormap in COLORMAPS:  # a name from an older or newer version is ignored, not fatal
            layers.set_colormap(name, colormap)
    for slot in SLOTS:
        for name in LAYERS:
            layers.set_visible(slot, name, read(settings, f"layers/{slot}/{name}/visible", layers.visible(slot, name)))
            layers.set_opacity(slot, name, read(settings, f"layers/{slot}/{name}/opacity", layers.opacity(slot, name)))


def save_review(settings, session: ReviewSession, layers: LayerStates) -> None:
    settings.setValue("view/method", session.method)
    for name in LAYERS:
        settings.setValue(f"view/colormap/{name}", layers.colormap(name))
    for slot in SLOTS:
        for name in LAYERS:
            settings.setValue(f"layers/{slot}/{name}/visible", layers.visible(slot, name))
            settings.setValue(f"layers/{slot}/{name}/opacity", layers.opacity(slot, name))


def restore_window(window) -> None:
    settings = window.settings
    geometry = settings.value("window/geometry")
    if geometry is None or not window.restoreGeometry(geometry):
        window.resize(1400, 820)
    if settings.value("window/state") is not None:
        window.restoreState(settings.value("window/state"))
    if settings.value("window/splitter") is not None:
        window.splitter.restoreState(settings.value("window/splitter"))
    window.actions["sync"].setChecked(read(settings, "view/sync", False))


def save_window(window) -> None:
    settings = window.settings
    settings.setValue("window/geometry", window.saveGeometry())
    settings.setValue("window/state", window.saveState())
    settings.setValue("window/splitter", window.splitter.saveState())
    settings.setValue("view/sync", window.actions["sync"].isChecked())
