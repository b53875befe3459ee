"""Small passive widgets: per-image layer controls, the score panel and the colour legend."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ..jobs.tasks import (
    DISCLAIMER,
    LAYER_TITLES,
    LAYERS,
    VERDICT_COLOURS,
    VERDICT_MEANING,
    band_of,
    faithfulness_text,
    method_words,
    shown_probability,
    withholds,
)
from ..models.layers import LayerStates
from .colours import colormap_qimage

LAYER_TIPS = {"factual": "Regions that support the decision", "counterfactual": "Regions that argue against it"}


class LayerControls(QWidget):
    """A visibility check box and an opacity slider (0-100 %) per layer of one image, bound both ways to the
    LayerStates model (after napari's opacity controls): the widgets never hold state of their own."""

    def __init__(self, layers: LayerStates, slot: int, parent=None):
        super().__init__(parent)
        self.layers, self.slot = layers, slot
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 2, 4, 2)
        self.boxes: dict[str, QCheckBox] = {}
        self.sliders: dict[str, QSlider] = {}
        self.values: dict[str, QLabel] = {}
        for row, name in enumerate(LAYERS):
            box = QCheckBox(LAYER_TITLES[name])
            box.setToolTip(LAYER_TIPS[name])
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, 100)
            slider.setToolTip(f"{LAYER_TITLES[name]} layer opacity")
            for widget in (box, slider):
                widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # never steals the review shortcuts
            value = QLabel()
            value.setMinimumWidth(44)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            box.toggled.connect(lambda on, n=name: layers.set_visible(slot, n, on))
            slider.valueChanged.connect(lambda v, n=name: layers.set_opacity(slot, n, v / 100.0))
            grid.addWidget(box, row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(value, row, 2)
            self.boxes[name], self.sliders[name], self.values[name] = box, slider, value
            self._show(slot, name, layers.visible(slot, name), layers.opacity(slot, name))
        grid.setColumnStretch(1, 1)
        layers.changed.connect(self._show)
        layers.active_changed.connect(self._show_active)
        self._show_active(layers.active)

    def _show_active(self, active: str) -> None:
        """The layer the keyboard's opacity and colour keys act on, its name in bold."""
        for name, box in self.boxes.items():
            font = box.font()
            font.setBold(name == active)
            box.setFont(font)

    def _show(self, slot: int, name: str, visible: bool, opacity: float) -> None:
        if slot != self.slot:
            return
        box, slider = self.boxes[name], self.sliders[name]
        with QSignalBlocker(box), QSignalBlocker(slider):  # showing the model's value is not a new edit
            box.setChecked(visible)
            slider.setValue(round(opacity * 100))
        self.values[name].setText(f"{slider.value()} %")


class ScorePanel(QWidget):
    """The verdict first (core.trust.verdict: what the model stands behind, in neutral ink, dark only when it
    decides), its reason and meaning, then the raw similarity against the threshold, the calibrated probability,
    warnings, method, model, its test metrics, timing and faithfulness.

    A pair not assessed because an image lies outside the model's domain shows no number and no map: the similarity, the
    probability, the maps and the automatic crop's label would read as findings on an image the model knows nothing
    of. "Show anyway" reveals them for this pair; `withheld_changed` tells the window to hide or draw the maps."""

    withheld_changed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.verdict = QLabel("–")
        self.verdict.setStyleSheet(VERDICT_STYLE)
        self.verdict.setWordWrap(True)
        self.reason = QLabel("Load two images to compare them")
        self.reason.setWordWrap(True)
        layout.addWidget(self.verdict)
        layout.addWidget(self.reason)
        # The reviewer's agree / disagree with this verdict (A / Shift+A): kept, printed on the report, and seen here,
        # not only in a status message that fades.
        self.assessment = QLabel()
        self.assessment.setWordWrap(True)
        self.assessment.setStyleSheet("font-weight: bold;")
        self.assessment.setVisible(False)
        layout.addWidget(self.assessment)
        self.show_anyway = QCheckBox("Show score and maps anyway")
        self.show_anyway.setToolTip("This pair is not assessed: its similarity, probability and maps would be an "
                                    "extrapolation beyond what the model learned")
        self.show_anyway.setFocusPolicy(Qt.NoFocus)  # never steals the review shortcuts
        self.show_anyway.setVisible(False)
        self.show_anyway.toggled.connect(lambda _on: self._apply_withheld())
        layout.addWidget(self.show_anyway)
        self._not_assessed = False
        self._withheld_shown = False  # what withheld_changed last said
        self._curves: dict | None = None  # the shown maps' faithfulness curves, once measured
        self._maps_drawn = False  # a pair with maps is shown (none for the same content twice)
        self._band = None
        self._verdict: str | None = None  # of the pair shown
        self._followup = False  # a follow-up of the pair is shown (see show_followup)
        self._followup_dock_open = True
        # The raw score and threshold stay visible, in a neutral colour: they are not the verdict.
        self.score = QLabel()
        self.score.setWordWrap(True)
        layout.addWidget(self.score)
        # Calibrated P(same class): the probability the verdict follows from.
        self.probability = QLabel()
        self.probability.setToolTip("Probability that both images show the same class, from the similarity by a "
                                    "monotone (Platt) map fitted on the model's validation pairs")
        layout.addWidget(self.probability)
        self.meaning = QLabel(f"{VERDICT_MEANING} {DISCLAIMER}")  # the disclaimer always in view, not in Help only
        self.meaning.setWordWrap(True)
        self.meaning.setStyleSheet(f"color: {MUTED}; font-style: italic;")
        layout.addWidget(self.meaning)
        # Out-of-domain and same-content warnings: always visible while they apply, never a status-bar flash.
        self.domain = QLabel()
        self.domain.setWordWrap(True)
        self.domain.setStyleSheet("color: white; background: #b0281e; font-weight: bold; padding: 3px;")
        self.domain.setVisible(False)
        layout.addWidget(self.domain)
        self.model_name = QLabel("Model: –")  # may be long: wraps, which only a box layout sizes correctly
        self.model_name.setWordWrap(True)
        self.model_name.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.model_name)
        grid = QGridLayout()
        grid.setContentsMargins(0, 2, 0, 0)
        grid.setColumnStretch(1, 1)
        self.fields = {}
        for row, key in enumerate(("Threshold", "Verdict band", "Method", "Network", "Test metrics", "Device",
                                   "Timing", "Faithfulness")):
            label = QLabel("–")
            label.setWordWrap(True)  # long values (metrics, timings) wrap instead of being cut off
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            grid.addWidget(QLabel(f"{key}:"), row, 0)
            grid.addWidget(label, row, 1)
            self.fields[key] = label
        layout.addLayout(grid)
        self.fields["Faithfulness"].setToolTip(
            "Deletion: the explained score as the top of each factual map is blurred away (lower area than random "
            "= faithful). Insertion: as it is restored on blurred images (higher area than random = faithful). "
            "Judged against 3 random maps (dotted: their mean): faithful when better than each of them, not better "
            "than chance when not better than their mean, inconclusive in between or when the score hardly moves.")
        self.curves = QLabel()  # deletion/insertion plot of the shown maps, once measured
        self.curves.setVisible(False)
        layout.addWidget(self.curves)
        self.note = QLabel()  # warnings: an untrained model, an explanation without evidence
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #b06000; font-weight: bold;")
        layout.addWidget(self.note)
        self._untrained = False

    def show_model(self, ready) -> None:
        info = ready.info
        meta = info.metadata or {}
        self.model_name.setText(f"Model: {info.name}")
        self.model_name.setToolTip(f"{info.path or 'built-in'}\nsha256 {info.sha256 or '(not recorded)'}")
        views = "" if info.tta == "none" else f", test-time views: {info.tta}"
        self.fields["Network"].setText(f"{info.architecture}, {info.input_size} px{views}")
        self.fields["Threshold"].setText(f"{100 * info.threshold:.1f} % (raw similarity; not the verdict)")
        self.fields["Verdict band"].setText(_band_text(meta.get("verdict")))
        self._band = band_of(meta)
        metrics = meta.get("test_metrics") or {}
        self._untrained = bool(meta.get("untrained"))
        if self._untrained:
            text = "none (untrained model)"
        else:
            text = _metrics_text(metrics)
        self.fields["Test metrics"].setText(text)
        self.fields["Device"].setText(ready.device)
        self.note.setText(self._warning(""))

    def show_result(self, explained, busy_text: str = "") -> None:
        if explained is None:
            self._verdict = None
            self._show_verdict()
            self.reason.setText(busy_text or "Load two images to compare them")
            self.score.setText("")
            self.fields["Timing"].setText("–")
            self.note.setText(self._warning(""))
            self.probability.setText("")
            self.domain.setVisible(False)
            self._maps_drawn = False
            self.show_faithfulness(None)
            self._not_assessed = False
            self._apply_withheld()
            return
        e = explained.explanation
        self._verdict = e.verdict
        self._show_verdict()
        self.reason.setText(e.verdict_reason)
        self.score.setText(f"Similarity {100 * e.similarity:.1f} % (model threshold {100 * e.threshold:.1f} %)")
        self.fields["Method"].setText(method_words(e.method, e.refined_from))
        probability = getattr(e, "probability_same", None)
        self.probability.setText(f"P(same class) {shown_probability(probability, self._band)} (calibrated)"
                                 if probability is not None else "P(same class): not calibrated for this model")
        warnings = [e.verdict_reason.upper() if e.in_domain is not None and not all(e.in_domain) else ""]
        if getattr(e, "same_content", False):
            warnings.append("SAME IMAGE CONTENT: no maps (there is no evidence to draw)")
        text = "\n".join(w for w in warnings if w)
        self.domain.setText(text)
        self.domain.setVisible(bool(text))
        timings = e.timings_ms
        refined = f", refined in {timings['refine']:.0f} ms" if "refine" in timings else ""  # the map shown took both
        self.fields["Timing"].setText(f"{timings.get('total', 0):.0f} ms (model {timings.get('model', 0):.0f} ms)"
                                      + refined)
        self.note.setText(self._warning(e.note))
        # Withheld when an image lies outside the domain: what the model would say of it is an extrapolation. A
        # model merely without a calibrated band still explains its raw score on images it knows.
        self._not_assessed = withholds(e.verdict, e.in_domain)
        self._maps_drawn = not getattr(e, "same_content", False)
        with QSignalBlocker(self.show_anyway):  # each pair starts withheld: revealing is a choice per pair
            self.show_anyway.setChecked(False)
        self._apply_withheld()

    def show_assessment(self, decision: str | None) -> None:
        """The reviewer's "agree" / "disagree" with the verdict shown, or None: not given (on this verdict)."""
        self.assessment.setText(f"You {decision} with this verdict (A / Shift+A)" if decision else "")
        self.assessment.setVisible(bool(decision))

    def show_followup(self, shown: bool, dock_open: bool = True) -> None:
        """While a follow-up is shown, what changed leads (the Follow-up dock) and the model's verdict follows as
        the likeness it is, in small grey type: a heading "Similar" over a lesion that grew read as "unchanged".
        dock_open: False when the reviewer closed the dock; the words then say how to bring it back."""
        self._followup, self._followup_dock_open = shown, dock_open
        self._show_verdict()

    def _show_verdict(self) -> None:
        verdict = self._verdict
        if verdict is None:
            self.verdict.setText("–")
            self.verdict.setStyleSheet(VERDICT_STYLE)
        elif self._followup:
            where = "leads the Follow-up panel" if self._followup_dock_open else "is in the Follow-up panel, Ctrl+U"
            self.verdict.setText(f"Model: {verdict} (a likeness, not a change: what changed {where})")
            self.verdict.setStyleSheet(f"font-weight: bold; color: {MUTED};")
        else:
            colour = "#%02x%02x%02x" % VERDICT_COLOURS[verdict]
            self.verdict.setText(verdict.capitalize())  # one typography for every verdict: the ink marks a decision
            self.verdict.setStyleSheet(f"{VERDICT_STYLE} color: {colour};")

    @property
    def withheld(self) -> bool:
        """The shown pair is not assessed (an image outside the domain) and the reviewer has not asked to see its
        numbers and maps anyway."""
        return self._not_assessed and not self.show_anyway.isChecked()

    def _apply_withheld(self) -> None:
        withheld = self.withheld
        self.show_anyway.setVisible(self._not_assessed)
        self.score.setVisible(not withheld)
        self.probability.setVisible(not withheld)
        self._show_curves()  # how faithfully withheld maps explain a withheld score is withheld with them
        if withheld != self._withheld_shown:
            self._withheld_shown = withheld
            self.withheld_changed.emit(withheld)

    def show_faithfulness(self, curves: dict | None) -> None:
        """Whether the shown maps explain the score better than random maps, and a small plot of the deletion and
        insertion curves; None clears."""
        self._curves = curves or None
        if self._curves is not None:
            self.curves.setPixmap(curves_pixmap(self._curves))
        self._show_curves()

    def _show_curves(self) -> None:
        curves = self._curves
        shown = curves is not None and not self.withheld
        if curves is None:  # the words the images carry meanwhile (gui.views.window._mark_maps)
            self.fields["Faithfulness"].setText("not yet checked" if self._maps_drawn and not self.withheld else "–")
        else:
            self.fields["Faithfulness"].setText(faithfulness_text(curves) if shown else "withheld (not assessed)")
        self.curves.setVisible(shown)

    def _warning(self, note: str) -> str:
        lines = ["UNTRAINED model: its scores and maps are meaningless"] if self._untrained else []
        return "\n".join(lines + ([note] if note else []))


VERDICT_STYLE = "font-size: 20pt; font-weight: bold;"
MUTED = "#555555"  # what qualifies the result: the verdict's meaning, the verdict under a follow-up


def _band_text(fitted) -> str:
    """The model's inconclusive band and what it gave on validation pairs, or why there is none."""
    try:
        low, high = fitted["band"]
        text = f"inconclusive for P(same class) {100 * low:.0f}-{100 * high:.0f} %"
        if fitted.get("selective_accuracy") is not None:
            text += (f"; on validation pairs {100 * fitted['coverage']:.0f} % decided, "
                     f"{100 * fitted['selective_accuracy']:.1f} % of them correctly")
        return text
    except (KeyError, TypeError, ValueError):
        return "none: every pair is not assessed (run main.py calibrate)"


def _metrics_text(metrics: dict) -> str:
    parts = [f"AUC {metrics['auc']:.3f}" if "auc" in metrics else "",
             f"accuracy {metrics['accuracy']:.3f}" if "accuracy" in metrics else "",
             f"({metrics['pairs']} pairs)" if "pairs" in metrics else ""]
    return " ".join(p for p in parts if p) or "none recorded"


CURVE_STYLES = (("deletion_map", "#b0281e", Qt.PenStyle.SolidLine),
                ("deletion_random", "#b0281e", Qt.PenStyle.DotLine),
                ("insertion_map", "#1b7a36", Qt.PenStyle.SolidLine),
                ("insertion_random", "#1b7a36", Qt.PenStyle.DotLine))


CURVE_MARGINS = (22, 14, 6, 16)  # left (score ticks), top (legend), right, bottom (fraction ticks) in px


def curves_pixmap(curves: dict, width: int = 240, height: int = 104) -> QPixmap:
    """Deletion (red) and insertion (green) of the explained score against the fraction of the map's top pixels
    blurred away (deletion) or restored (insertion), solid for the map, dotted for the random maps' mean; the axes are
    labelled so the plot reads without the tooltip."""
    left, top, right, bottom = CURVE_MARGINS
    plot_w, plot_h = width - left - right, height - top - bottom
    pixmap = QPixmap(width, height)
    pixmap.fill(QColor("white"))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = painter.font()
    font.setPixelSize(9)
    painter.setFont(font)
    painter.setPen(QPen(QColor("#999999"), 1))
    painter.drawRect(left, top, plot_w, plot_h)
    painter.setPen(QColor("#444444"))
    painter.drawText(0, top - 4, left - 3, 12, Qt.AlignmentFlag.AlignRight, "1")
    painter.drawText(0, top + plot_h - 8, left - 3, 12, Qt.AlignmentFlag.AlignRight, "0")
    painter.drawText(left, top + plot_h + 2, plot_w, 12, Qt.AlignmentFlag.AlignLeft, "0 %")
    painter.drawText(left, top + plot_h + 2, plot_w, 12, Qt.AlignmentFlag.AlignHCenter, "solid: map · dotted: random")
    painter.drawText(left, top + plot_h + 2, plot_w, 12, Qt.AlignmentFlag.AlignRight, "100 %")
    painter.drawText(left, 0, plot_w, top, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "score")
    painter.drawText(left, 0, plot_w, top, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                     "top pixels: red removed, green restored")
    fractions = curves["fractions"]
    for key, colour, style in CURVE_STYLES:
        points = [QPointF(left + f * plot_w, top + plot_h - min(max(v, 0.0), 1.0) * plot_h)
                  for f, v in zip(fractions, curves[key], strict=True)]
        painter.setPen(QPen(QColor(colour), 1.6, style))
        painter.drawPolyline(QPolygonF(points))
    painter.end()
    return pixmap


class Legend(QWidget):
    """Each layer's colour ramp, labelled, 0 (transparent) to 1 (most relevant): with both layers on, the
    reviewer can tell evidence for the decision from evidence against it."""

    def __init__(self, layers: LayerStates, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.ramps: dict[str, QLabel] = {}
        for row, name in enumerate(LAYERS):
            grid.addWidget(QLabel(LAYER_TITLES[name]), row, 0)
            ramp = QLabel()
            ramp.setMinimumHeight(14)
            ramp.setScaledContents(True)
            ramp.setToolTip(f"{LAYER_TITLES[name]}: {LAYER_TIPS[name].lower()}")
            grid.addWidget(ramp, row, 1, 1, 2)
            self.ramps[name] = ramp
            self._show(name, layers.colormap(name))
        grid.addWidget(QLabel("0  low"), len(LAYERS), 1)
        grid.addWidget(QLabel("high  1"), len(LAYERS), 2, Qt.AlignmentFlag.AlignRight)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        self.setToolTip("A layer is transparent where its map is 0.")
        layers.colormap_changed.connect(self._show)

    def _show(self, name: str, colormap: str) -> None:
        self.ramps[name].setPixmap(QPixmap.fromImage(colormap_qimage(colormap, 256, 14)))
