"""core.io.plots: chart texts never overlap (the ROC's y label used to sit on its title)."""

from __future__ import annotations

import itertools

import numpy as np
from PIL import Image

from core.io import plots


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_roc_texts_lie_apart_above_and_below_the_plot_and_are_drawn_where_laid_out(tmp_path):
    title, x_label, y_label = ("ROC: a long model name on ../shared/data/skin", "false positive rate",
                               "true positive rate")
    path = plots.save_roc([0.0, 0.3, 1.0], [0.0, 0.8, 1.0], 0.81, tmp_path / "roc.png", title)
    boxes = plots.text_boxes((900, 600), title, x_label, y_label)
    for (name_a, a), (name_b, b) in itertools.combinations(boxes.items(), 2):
        assert not _overlap(a, b), (name_a, name_b)
    top_tick = plots.TOP - 9  # the "1" of the y axis is drawn from here down
    assert boxes["title"][3] < boxes["y_label"][1] and boxes["y_label"][3] < top_tick
    ink = np.asarray(Image.open(path).convert("L")) < 128
    for box in boxes.values():
        left, top, right, bottom = box
        assert ink[top:bottom, left:right].any()  # the text really is there
    title_box = boxes["title"]
    assert not ink[title_box[3] + 1: boxes["y_label"][1] - 1, :plots.LEFT].any()  # nothing between the two lines
