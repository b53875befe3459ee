"""The worklist dock at the width it gets on a 1366 px screen: the verdict and score are read whole, the long
names give way (elided, full text in the tooltip)."""

from __future__ import annotations

from gui.views.worklist_dock import COLUMNS, WorklistDock


def test_verdict_and_score_are_never_cut_while_long_names_are_elided(qtbot):
    dock = WorklistDock()
    qtbot.addWidget(dock)
    dock.resize(430, 300)  # about what the dock gets beside two viewers at 1366 x 768
    dock.show()
    score = "not assessed (83.1 %)"
    case = "dermatology-clinic-2026-visit-0042-left-forearm-lesion-B"
    dock.show_cases("/tmp/w.csv", [(case, "todo", score, "disagree", "baseline_2026_01.jpg / followup_2026_06.jpg")], 0)
    qtbot.waitUntil(lambda: dock.table.horizontalHeader().sectionSize(COLUMNS.index("Score")) > 0)
    header, metrics = dock.table.horizontalHeader(), dock.table.fontMetrics()
    assert header.sectionSize(COLUMNS.index("Score")) >= metrics.horizontalAdvance(score)
    assert header.sectionSize(COLUMNS.index("Reviewer")) >= metrics.horizontalAdvance("disagree")
    assert header.sectionSize(COLUMNS.index("Case")) < metrics.horizontalAdvance(case)  # elided, not widening
    assert dock.table.item(0, COLUMNS.index("Case")).toolTip() == case
