"""Every menu command with its keyboard shortcut, defined once: the menus, the toolbar and the Help dialog all
read this table."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ..jobs.tasks import TOP_SHARE


@dataclass(frozen=True)
class Command:
    key: str  # the handler: Commands.handlers()[key] (gui.presenters.commands), or the window's own (window_commands)
    menu: str
    text: str
    shortcuts: tuple[str, ...] = ()
    checkable: bool = False
    tip: str = ""
    short: str = ""  # the toolbar's label, short enough for the whole toolbar to fit a 1024 px wide window


COMMANDS = (
    Command("open0", "&File", "Open image &1…", ("Ctrl+O",), short="Open 1"),
    Command("open1", "&File", "Open image &2…", ("Ctrl+Shift+O",), short="Open 2"),
    Command("paste0", "&File", "Paste as image 1", ("Ctrl+V",), tip="Image (or image file) on the clipboard"),
    Command("paste1", "&File", "Paste as image 2", ("Ctrl+Shift+V",)),
    Command("open_pacs", "&File", "Open from &PACS…", tip="Two visits of a patient from the clinic's PACS, as a "
            "pair or a follow-up (docs/pacs.md)"),
    Command("swap", "&File", "&Swap images", ("X",), short="Swap"),
    Command("export", "&File", "&Export report…", ("Ctrl+E",), tip="PNG report plus JSON sidecar", short="Export"),
    Command("export_followup", "&File", "Export &follow-up report…", ("Ctrl+R",),
            tip="The follow-up's report (PNG, PDF or DICOM): what changed, both visits, your assessment"),
    Command("export_sr", "&File", "Export measurement S&R…", tip="The pair's measurements as a DICOM structured "
            "report (TID 1500), filed into image 1's study: two DICOM images of one patient"),
    Command("store_pacs", "&File", "Store report to PAC&S…", tip="The pair's DICOM report and measurement SR, "
            "written and stored into image 1's study on the PACS: two DICOM images of one patient (docs/pacs.md)"),
    Command("followup_history", "&File", "Follow-up &history…", ("Ctrl+Shift+U",),
            tip="Every visit of one lesion: sorted by date, aligned onto the first, measured, its trend drawn"),
    Command("quit", "&File", "&Quit", ("Ctrl+Q",)),
    Command("crop", "&Edit", "&Crop mode", ("C",), checkable=True, tip="Drag a box on either image to crop it",
            short="Crop"),
    Command("reset_crops", "&Edit", "&Reset crops", ("Shift+C",), short="Reset"),
    Command("write_note", "&Edit", "Write the &note", ("Ctrl+N",),
            tip="The reviewer's note takes the keyboard (as a click in it does); Esc gives it back to the images"),
    Command("undo", "&Edit", "&Undo crop", ("Ctrl+Z",), short="Undo"),
    Command("redo", "&Edit", "Re&do crop", ("Ctrl+Shift+Z", "Ctrl+Y"), short="Redo"),
    Command("factual0", "&View", "Factual layer, image 1", ("1",), checkable=True),
    Command("counterfactual0", "&View", "Counterfactual layer, image 1", ("2",), checkable=True),
    Command("factual1", "&View", "Factual layer, image 2", ("3",), checkable=True),
    Command("counterfactual1", "&View", "Counterfactual layer, image 2", ("4",), checkable=True),
    Command("outline", "&View", f"&Outline the factual map's top {100 * TOP_SHARE:.0f} %", ("O",), checkable=True,
            tip="on both images: the regions that carry the score, whatever the colours and opacity"),
    Command("opacity_down", "&View", "Active layer: less opaque", (",",),
            tip="the layer last turned on or changed (its name in bold under the images), on both images"),
    Command("opacity_up", "&View", "Active layer: more opaque", (".",),
            tip="the layer last turned on or changed (its name in bold under the images), on both images"),
    Command("next_colormap", "&View", "Active layer: next colour map", ("P",), tip="also in the side panel"),
    Command("show_anyway", "&View", "Show score and maps anyway", ("Ctrl+Shift+Y",),
            tip="of a pair not assessed (an image outside the model's domain): an extrapolation; never taken while "
            "typing; press again to withhold"),
    Command("fit", "&View", "&Fit to window", ("Ctrl+0", "F"), short="Fit"),
    Command("actual", "&View", "&Actual pixels (1:1)", ("Ctrl+1",), short="1:1"),
    Command("zoom_in", "&View", "Zoom &in", ("Ctrl++", "Ctrl+=")),
    Command("zoom_out", "&View", "Zoom &out", ("Ctrl+-",)),
    Command("sync", "&View", "&Synchronise views", ("S",), checkable=True, tip="Zoom and pan both images together",
            short="Sync"),
    Command("links", "&View", "Correspondence &links", ("L",), checkable=True, short="Links",
            tip="Lines from what in image 1 was matched to what in image 2, strongest first"),
    Command("more_links", "&View", "More links", ("]",)),
    Command("fewer_links", "&View", "Fewer links", ("[",)),
    Command("similar_panel", "&View", "Similar &cases panel", ("Ctrl+K",), checkable=True,
            tip="The nearest known cases to image 1 in a gallery folder"),
    Command("followup_panel", "&View", "Follo&w-up panel", ("Ctrl+Shift+F",), checkable=True,
            tip="The last follow-up as it was left, without aligning again (Ctrl+U aligns anew)"),
    Command("choose_gallery", "&View", "Choose similar-cases &gallery…", ("Ctrl+G",)),
    Command("next_hit", "&View", "&Next similar case as image 2", ("N",)),
    Command("previous_hit", "&View", "&Previous similar case as image 2", ("Shift+N",)),
    Command("worklist_panel", "&Worklist", "&Worklist panel", ("Ctrl+L",), checkable=True),
    Command("import_worklist", "&Worklist", "&Import pairs from CSV…", ("Ctrl+Shift+I",),
            tip="image1,image2[,case_id,crop1,crop2,note]"),
    Command("export_worklist", "&Worklist", "&Export worklist to CSV…", ("Ctrl+Shift+E",)),
    Command("next_case", "&Worklist", "&Next case", ("J", "PgDown")),
    Command("previous_case", "&Worklist", "&Previous case", ("K", "PgUp")),
    Command("agree", "&Worklist", "&Agree with the model", ("A",), tip="saved at once"),
    Command("disagree", "&Worklist", "&Disagree with the model", ("Shift+A",), tip="saved at once"),
    Command("case_done", "&Worklist", "Mark case &done", ("D",)),
    Command("case_flag", "&Worklist", "&Flag case", ("Shift+F",)),
    Command("explain", "&Model", "&Re-explain", ("F5",)),
    Command("followup", "&Model", "&Follow-up: align image 2 onto image 1", ("Ctrl+U",), short="Follow-up",
            tip="Image 2 as a later visit of the same lesion: aligned, blinked, measured (B blinks)"),
    Command("next_method", "&Model", "Next explanation &method", ("M",)),
    Command("choose_model", "&Model", "&Choose model file…", ("Ctrl+M",)),
    Command("default_model", "&Model", "Use the &default model"),
    Command("dismiss", "&View", "&Dismiss problems", ("Esc",), tip="hide the problem bar; the keyboard returns "
            "to the images"),
    Command("help", "&Help", "&Keyboard shortcuts", ("F1",)),
    Command("about", "&Help", "&About"),
)

# The follow-up dock's own keys (gui.views.followup_dock binds them while it shows a follow-up), listed in Help with
# the menus' commands: (what the dock does, its keys, the words Help shows).
FOLLOWUP_KEYS = (
    ("blink", ("B",), "Follow-up › Blink: show the other visit"),
    ("next_mode", ("V",), "Follow-up › Next view: blink, swipe, difference"),
    ("nudge", ("Alt+Left", "Alt+Right", "Alt+Up", "Alt+Down"), "Follow-up › Nudge the follow-up a pixel (for the eye)"),
    ("undo_nudge", ("Alt+Backspace",), "Follow-up › Undo a nudge"),
)

TOOLBAR = ("open0", "open1", "swap", None, "crop", "reset_crops", "undo", "redo", None, "fit", "actual", "sync",
           None, "export")


def build_actions(parent, handlers: dict) -> dict[str, QAction]:
    """One QAction per command, wired to handlers[key] (checkable ones receive the new state)."""
    actions = {}
    for command in COMMANDS:
        action = QAction(command.text, parent)
        if command.short:
            action.setIconText(command.short)
        action.setShortcuts([QKeySequence(s) for s in command.shortcuts])
        action.setCheckable(command.checkable)
        shortcut = f" ({command.shortcuts[0]})" if command.shortcuts else ""
        action.setToolTip(f"{command.text.replace('&', '').rstrip('…')}{shortcut}"
                          + (f": {command.tip}" if command.tip else ""))
        signal = action.toggled if command.checkable else action.triggered
        handler = handlers[command.key]
        signal.connect(handler if command.checkable else (lambda _checked=False, h=handler: h()))
        actions[command.key] = action
    return actions


def populate_menus(menu_bar, toolbar, actions: dict[str, QAction]) -> dict:
    """Fill the menu bar and toolbar; returns the menus by title (e.g. "&Model")."""
    menus = {}
    for command in COMMANDS:
        if command.menu not in menus:
            menus[command.menu] = menu_bar.addMenu(command.menu)
        menus[command.menu].addAction(actions[command.key])
    for key in TOOLBAR:
        if key is None:
            toolbar.addSeparator()
        else:
            toolbar.addAction(actions[key])
    return menus


class ShortcutsDialog(QDialog):
    """A non-modal list of every command and its shortcuts."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [(f"{c.menu.replace('&', '')} › {c.text.replace('&', '').rstrip('…')}", c.shortcuts) for c in COMMANDS]
        rows += [(words, keys) for _name, keys, words in FOLLOWUP_KEYS]
        table = QTableWidget(len(rows), 2, self)
        table.setHorizontalHeaderLabels(["Command", "Shortcut"])
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(24)
        table.setEditTriggers(QTableWidget.NoEditTriggers)
        for row, (name, shortcuts) in enumerate(rows):
            keys = ", ".join(QKeySequence(s).toString(QKeySequence.NativeText) for s in shortcuts)
            table.setItem(row, 0, QTableWidgetItem(name))
            table.setItem(row, 1, QTableWidgetItem(keys or "–"))
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        table.resizeColumnToContents(1)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        extra = ("Mouse: wheel zooms at the cursor, drag pans; in crop mode drag a box. "
                 "Drop one image on a viewer to replace it, or two anywhere to load both.")
        hint = QLabel(extra)
        hint.setWordWrap(True)
        layout.addWidget(hint)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.resize(520, 640)
