"""The worklist dock at the width it gets on a 1366 px screen: the verdict and score are read whole, the long
names give way (elided, full text in the tooltip)."""

from __future__ import annotations

from gui.views.worklist_dock import CASE_MIN_CHARS, COLUMNS, WorklistDock


def test_verdict_and_score_are_never_cut_while_long_names_are_elided(qtbot):
    dock = WorklistDock()
    qtbot.addWidget(dock)
    dock.resize(430, 300)  # about what the dock gets beside two viewers at 1366 x 768
    dock.show()
    score = "different · P 16.8 %"
    case = "dermatology-clinic-2026-visit-0042-left-forearm-lesion-B"
    dock.show_cases("/tmp/w.csv", [(case, "todo", score, "disagree", "baseline_2026_01.jpg / followup_2026_06.jpg")], 0)
    qtbot.waitUntil(lambda: dock.table.horizontalHeader().sectionSize(COLUMNS.index("Model verdict")) > 0)
    header, metrics = dock.table.horizontalHeader(), dock.table.fontMetrics()
    widest = max(metrics.horizontalAdvance(part) for part in score.split(" · "))  # drawn on two lines
    assert header.sectionSize(COLUMNS.index("Model verdict")) >= widest
    assert header.sectionSize(COLUMNS.index("Review")) >= metrics.horizontalAdvance("disagree")
    assert header.sectionSize(COLUMNS.index("Case")) < metrics.horizontalAdvance(case)  # elided, not widening
    assert dock.table.item(0, COLUMNS.index("Case")).toolTip() == case


def test_a_case_id_stays_readable_in_the_dock_a_1366_px_screen_gives_and_fits_whole_where_there_is_room(qtbot):
    dock = WorklistDock()
    qtbot.addWidget(dock)
    dock.resize(265, 300)  # what the dock gets beside two viewers in a 1366 x 768 window
    dock.show()
    case = "004711-left-forearm-dermoscopy-comparison-with-follow-up-visit-2026-09-14"
    dock.show_cases("/tmp/w.sqlite", [(case, "in review", "inconclusive · P 41 %", "", "a.jpg / b.jpg")], 0)
    header, metrics = dock.table.horizontalHeader(), dock.table.fontMetrics()
    readable = metrics.horizontalAdvance("0" * CASE_MIN_CHARS)
    qtbot.waitUntil(lambda: header.sectionSize(COLUMNS.index("Case")) >= readable)  # once was a bare "…"
    assert header.sectionSize(COLUMNS.index("Case")) < metrics.horizontalAdvance(case)  # elided, never widening
    dock.resize(900, 300)  # room to spare: a short id is shown whole and the column grows no further than it
    dock.show_cases("/tmp/w.sqlite", [("case-01", "done", "different · P 12 %", "agree", "a.jpg / b.jpg")], 0)
    qtbot.waitUntil(lambda: header.sectionSize(COLUMNS.index("Case")) >= metrics.horizontalAdvance("case-01"))
    assert header.sectionSize(COLUMNS.index("Case")) <= max(readable, header.sectionSizeHint(0)) + 12


def test_the_model_verdict_is_read_whole_without_scrolling_in_the_dock_a_1366_px_screen_gives(qtbot):
    """At 1366 x 768 the dock is about 265 px wide: the verdict stood third, after the status, and its right part
    lay beyond the dock's edge. It stands beside the case now, on two lines, its full text in the tooltip."""
    dock = WorklistDock()
    qtbot.addWidget(dock)
    dock.resize(265, 300)
    dock.show()
    verdict = "inconclusive · P 41 %"
    dock.show_cases("/tmp/w.sqlite", [("004711-left-forearm-dermoscopy-comparison-2026-09-14", "in review", verdict,
                                       "disagree", "a.jpg / b.jpg")], 0)
    header, metrics = dock.table.horizontalHeader(), dock.table.fontMetrics()
    column = COLUMNS.index("Model verdict")
    qtbot.waitUntil(lambda: header.sectionSize(column) > 0)
    assert header.sectionViewportPosition(column) + header.sectionSize(column) <= dock.table.viewport().width()
    assert header.sectionSize(column) >= max(metrics.horizontalAdvance(part) for part in verdict.split(" · "))
    item = dock.table.item(0, column)
    assert item.toolTip() == verdict and item.text().split("\n") == verdict.split(" · ")
    assert dock.table.rowHeight(0) >= 2 * metrics.lineSpacing()  # both lines drawn, not the first one only


def test_a_long_case_id_is_elided_on_one_line_not_wrapped_into_a_tall_row(qtbot):
    dock = WorklistDock()
    qtbot.addWidget(dock)
    dock.resize(265, 300)
    dock.show()
    dock.show_cases("/tmp/w.sqlite", [("004711-left-forearm-dermoscopy-comparison-with-follow-up-visit-2026-09-14",
                                       "in review", "inconclusive · P 41 %", "", "a.jpg / b.jpg")], 0)
    metrics = dock.table.fontMetrics()
    qtbot.waitUntil(lambda: dock.table.rowHeight(0) >= 2 * metrics.lineSpacing())
    assert dock.table.rowHeight(0) < 3 * metrics.lineSpacing() + 12  # the verdict's two lines, no more


def test_every_column_a_reviewer_reads_fits_the_dock_a_1366_px_screen_gives_without_scrolling(qtbot):
    """The status had a column of its own right of the dock's edge at 265 px (only read by scrolling sideways): it
    stands over the reviewer's agree / disagree now, in one column beside the case and the verdict, each part whole,
    with forty cases too (the vertical scroll bar takes its share of the width)."""
    dock = WorklistDock()
    qtbot.addWidget(dock)
    dock.resize(265, 300)
    dock.show()
    header, metrics = dock.table.horizontalHeader(), dock.table.fontMetrics()
    for count in (1, 40):
        dock.show_cases("/tmp/w.sqlite", [("004711-left-forearm-dermoscopy-comparison-2026-09-14", "in review",
                                           "not assessed", "disagree", "a.jpg / b.jpg")] * count, 0)
        qtbot.waitUntil(lambda: header.sectionSize(COLUMNS.index("Review")) > 0)
        if count > 1:
            qtbot.waitUntil(dock.table.verticalScrollBar().isVisible)
        width = dock.table.viewport().width()
        for name in ("Case", "Model verdict", "Review"):
            column = COLUMNS.index(name)
            assert header.sectionViewportPosition(column) + header.sectionSize(column) <= width, (name, count)
        review = dock.table.item(0, COLUMNS.index("Review"))
        assert review.text() == "in review\ndisagree" and review.toolTip() == "Status: in review · Reviewer: disagree"
        assert header.sectionSize(COLUMNS.index("Review")) >= metrics.horizontalAdvance("in review")
        assert header.sectionSize(COLUMNS.index("Model verdict")) >= metrics.horizontalAdvance("not assessed")
        assert header.sectionSize(COLUMNS.index("Case")) >= metrics.horizontalAdvance("0" * CASE_MIN_CHARS)
    dock.show_cases("/tmp/w.sqlite", [("case-03", "new", "", "", "a.jpg / b.jpg")], 0)  # no verdict yet: one line
    assert dock.table.item(0, COLUMNS.index("Review")).text() == "new"


def test_the_worklist_s_file_name_is_read_whole_in_the_dock_a_1366_px_screen_gives(qtbot):
    """Beside the Import / Export buttons the path was left about 60 px and showed "….sqlite": which worklist is
    open could not be read."""
    dock = WorklistDock()
    qtbot.addWidget(dock)
    dock.resize(265, 300)
    dock.show()
    dock.show_cases("/home/dr-keller/clinic/dermatology/2026/review-september.sqlite", [], -1)
    qtbot.waitUntil(lambda: dock.path_label.width() > 0)
    assert dock.path_label.shown_text().endswith("review-september.sqlite")
    assert dock.path_label.text().endswith("/home/dr-keller/clinic/dermatology/2026/review-september.sqlite")
