"""What the main window remembers between runs: geometry, dock/toolbar state, splitter, layer toggles and
opacities, colormap, method and view synchronisation (model, device and last folder are stored as they change)."""

from __future__ import annotations

from .presenter import SLOTS
from .settings import read
from .viewer import LAYERS

DEFAULT_LAYER_STATE = {"factual": (True, 0.5), "counterfactual": (False, 0.5)}


def restore_window(window) -> None:
    settings = window.settings
    geometry = settings.value("window/geometry")
    if geometry is None or not window.restoreGeometry(geometry):
        window.resize(1400, 820)
    if settings.value("window/state") is not None:
        window.restoreState(settings.value("window/state"))
    if settings.value("window/splitter") is not None:
        window.splitter.restoreState(settings.value("window/splitter"))
    for i in SLOTS:
        for name in LAYERS:
            visible_default, opacity_default = DEFAULT_LAYER_STATE[name]
            visible = read(settings, f"layers/{i}/{name}/visible", visible_default)
            opacity = min(max(read(settings, f"layers/{i}/{name}/opacity", opacity_default), 0.0), 1.0)
            window.layer_controls[i].set_state(name, visible, opacity)
            window.viewers[i].set_layer_visible(name, visible)
            window.viewers[i].set_layer_opacity(name, opacity)
            window.actions[f"{name}{i}"].setChecked(visible)
    window.actions["sync"].setChecked(read(settings, "view/sync", False))


def save_window(window) -> None:
    settings = window.settings
    settings.setValue("window/geometry", window.saveGeometry())
    settings.setValue("window/state", window.saveState())
    settings.setValue("window/splitter", window.splitter.saveState())
    for i in SLOTS:
        for name, (visible, opacity) in window.layer_controls[i].state().items():
            settings.setValue(f"layers/{i}/{name}/visible", visible)
            settings.setValue(f"layers/{i}/{name}/opacity", opacity)
    settings.setValue("view/colormap", window.colormap)
    settings.setValue("view/method", window.presenter.method)
    settings.setValue("view/sync", window.actions["sync"].isChecked())
    settings.sync()
