"""The similar-cases presenter (gui.presenters.similar) on an autospec'd view and a mock model: the gallery, the
index's progress and the nearest cases put into words, and the dock's clicks sent to the model. No widgets."""

from __future__ import annotations

from unittest.mock import Mock, create_autospec

import pytest

from gui.jobs.tasks import SimilarFound
from gui.models.similar_cases import SimilarCases
from gui.presenters.similar import NO_GALLERY, NOTHING_FOUND, SEARCHING, SimilarPresenter, SimilarView

HITS = ({"rank": 1, "path": "/g/m/1.png", "label": "malignant", "similarity": 0.9, "qimage": None},
        {"rank": 2, "path": "/g/b/2.png", "label": "benign", "similarity": 0.8, "qimage": None})


@pytest.fixture
def view():
    return create_autospec(SimilarView, instance=True)


@pytest.fixture
def similar():
    similar = Mock(spec=SimilarCases)
    similar.gallery = None
    return similar


def found(**changes) -> SimilarFound:
    values = {"query": "/a.png", "gallery": "/g", "hits": HITS, "vote": "1 of the 2 nearest-looking known cases "
              "are labelled malignant", "indexed": 5, "interrupted": False, **changes}
    return SimilarFound(**values)


def test_without_a_gallery_the_dock_says_how_to_get_cases(view, similar):
    SimilarPresenter(view, similar)
    view.show_gallery.assert_called_once_with(NO_GALLERY, False)
    view.show_found.assert_called_once_with(NOTHING_FOUND, [])
    view.show_progress.assert_called_with(None)


def test_a_gallery_is_named_and_clearable(view, similar):
    similar.gallery = "/data/gallery"
    SimilarPresenter(view, similar)
    view.show_gallery.assert_called_once_with("Gallery: /data/gallery", True)
    view.show_found.assert_not_called()  # its cases come when found


def test_progress_shows_while_the_index_is_updated_and_hides_when_done(view, similar):
    presenter = SimilarPresenter(view, similar)
    presenter.show_progress(3, 12)
    view.show_progress.assert_called_with((3, 12))
    presenter.show_progress(12, 12)
    view.show_progress.assert_called_with(None)


def test_while_the_gallery_is_indexed_the_dock_says_what_is_happening_not_what_to_do(view, similar):
    similar.gallery = "/data/gallery"
    presenter = SimilarPresenter(view, similar)
    similar.searching.connect.assert_called_once_with(presenter.show_searching)
    presenter.show_found(found())
    presenter.show_searching()  # a new image 1: a lookup under way
    view.show_found.assert_called_with(SEARCHING, [])  # the last image 1's hits are gone
    presenter.show_progress(3, 12)
    summary, hits = view.show_found.call_args.args
    assert summary.startswith("Indexing the gallery: 3 of 12 images") and hits == []
    assert "Load image 1" not in summary and "choose a gallery" not in summary
    view.show_found.reset_mock()
    presenter.show_progress(12, 12)  # indexed: the summary waits for the hits
    view.show_found.assert_not_called()


def test_the_summary_counts_the_hits_gives_the_vote_and_says_when_indexing_was_cancelled(view, similar):
    presenter = SimilarPresenter(view, similar)
    presenter.show_found(found())
    view.show_found.assert_called_with("2 nearest of 5 indexed cases · 1 of the 2 nearest-looking known cases "
                                       "are labelled malignant", list(HITS))
    presenter.show_found(found(vote=None, interrupted=True, indexed=3))
    summary, hits = view.show_found.call_args.args
    assert summary == ("2 nearest of 3 indexed cases · indexing was cancelled: only the cases indexed so far "
                       "were searched") and hits == list(HITS)
    view.show_progress.assert_called_with(None)  # the progress bar goes with the result


def test_the_docks_gestures_reach_the_model(view, similar):
    presenter = SimilarPresenter(view, similar)
    presenter.open_hit(HITS[1])
    similar.open_hit.assert_called_once_with(HITS[1])
    presenter.cancel()
    similar.cancel.assert_called_once_with()
    presenter.clear_gallery()
    similar.set_gallery.assert_called_once_with(None)
    similar.current_changed.connect.assert_called_once_with(view.show_current)
