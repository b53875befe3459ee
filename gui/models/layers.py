"""How the explanation layers are shown, as a widget-free model that emits events (after napari's layer model):
per image and layer, visibility and opacity; per layer, its colormap (the counterfactual has its own, so the
two can be told apart with both on); whether the factual map's top is outlined on both images (the regions that
carry the score, as every report draws them); and which layer is the active one, the one the keyboard's opacity and
colour-map keys act on (the layer last turned on or given an opacity; when it is hidden on both images, the top
layer still shown). Viewers, check boxes, sliders, menu actions, the legend, the report and the settings all bind to
this one model instead of copying each other's state.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..jobs.tasks import COLORMAPS, DEFAULT_LAYER_COLORMAPS, DEFAULT_LAYER_STATE, LAYERS

SLOTS = (0, 1)


class LayerStates(QObject):
    changed = Signal(int, str, bool, float)  # image slot, layer, visible, opacity
    colormap_changed = Signal(str, str)  # layer, colormap
    outline_changed = Signal(bool)  # the factual map's top outlined
    active_changed = Signal(str)  # the layer the keyboard acts on

    def __init__(self, parent=None):
        super().__init__(parent)
        self._state = {(slot, name): DEFAULT_LAYER_STATE[name] for slot in SLOTS for name in LAYERS}
        self._colormaps = dict(DEFAULT_LAYER_COLORMAPS)
        self._outline = True  # on, as on every report: the colours alone do not say where "most" ends
        self._active = LAYERS[0]

    @property
    def active(self) -> str:
        return self._active

    def visible(self, slot: int, name: str) -> bool:
        return self._state[slot, name][0]

    def opacity(self, slot: int, name: str) -> float:
        return self._state[slot, name][1]

    def colormap(self, name: str) -> str:
        return self._colormaps[name]

    @property
    def colormaps(self) -> dict[str, str]:
        return dict(self._colormaps)

    @property
    def outline(self) -> bool:
        return self._outline

    def set_outline(self, shown: bool) -> None:
        if self._outline != bool(shown):
            self._outline = bool(shown)
            self.outline_changed.emit(self._outline)

    def set_visible(self, slot: int, name: str, visible: bool) -> None:
        self._set(slot, name, bool(visible), self.opacity(slot, name))

    def set_opacity(self, slot: int, name: str, opacity: float) -> None:
        self._set(slot, name, self.visible(slot, name), min(max(float(opacity), 0.0), 1.0))

    def set_colormap(self, name: str, colormap: str) -> None:
        if colormap not in COLORMAPS:
            raise ValueError(f"unknown colormap {colormap!r}")
        if self._colormaps[name] != colormap:
            self._colormaps[name] = colormap
            self.colormap_changed.emit(name, colormap)

    def step_opacity(self, step: float) -> None:
        """The active layer's opacity on both images, `step` more (less when negative), within 0-100 %."""
        name = self._active
        for slot in SLOTS:
            self.set_opacity(slot, name, round(self.opacity(slot, name) + step, 2))

    def next_colormap(self) -> None:
        """The active layer's next colour map (after the last, the first)."""
        name = self._active
        self.set_colormap(name, COLORMAPS[(COLORMAPS.index(self._colormaps[name]) + 1) % len(COLORMAPS)])

    def shown_anywhere(self, name: str) -> bool:
        return any(self.visible(slot, name) for slot in SLOTS)

    def shown(self) -> tuple[dict, ...]:
        """Per image, {layer: opacity as shown, 0 when hidden}: what a report draws."""
        return tuple({name: self.opacity(slot, name) if self.visible(slot, name) else 0.0 for name in LAYERS}
                     for slot in SLOTS)

    def _set(self, slot: int, name: str, visible: bool, opacity: float) -> None:
        was_visible, was_opacity = self._state[slot, name]
        if (was_visible, was_opacity) != (visible, opacity):
            self._state[slot, name] = (visible, opacity)
            self.changed.emit(slot, name, visible, opacity)
            if opacity != was_opacity or (visible and not was_visible):
                self._make_active(name)
            elif not self.shown_anywhere(self._active):  # hidden: the keys act on what is still seen
                self._make_active(next((n for n in reversed(LAYERS) if self.shown_anywhere(n)), self._active))

    def _make_active(self, name: str) -> None:
        if name != self._active:
            self._active = name
            self.active_changed.emit(name)
