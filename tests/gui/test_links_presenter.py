"""The links presenter (gui.presenters.links) on an autospec'd view, the real links model and a stand-in
correspondence: what is drawn while links are shown, and where a point under the pointer matches on the other
image. No widgets, no model."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import Mock, call, create_autospec

import numpy as np
import pytest

from gui.models.links import DEFAULT_LINKS, LinksState
from gui.models.session import ReviewSession
from gui.presenters.links import LinksPresenter, LinksView

LINKS = [{"p1": (10, 10), "p2": (70, 30), "weight": 0.9}, {"p1": (30, 30), "p2": (50, 10), "weight": 0.5}]


@pytest.fixture
def view():
    return create_autospec(LinksView, instance=True)


@pytest.fixture
def shown(view):
    """A presenter over a pair whose correspondence has arrived: a 2 x 2 grid on image 1 (uncropped, 40 x 40 px)
    against image 2 (cropped to 20, 0, 80 x 40)."""
    session = Mock(spec=ReviewSession)
    session.explained = SimpleNamespace(images=[SimpleNamespace(crop=None, original_size=(40, 40)),
                                                SimpleNamespace(crop=(20, 0, 80, 40), original_size=(100, 40))])
    links = LinksState()
    presenter = LinksPresenter(view, links, session)
    links.found = SimpleNamespace(links=LINKS, grid=(2, 2), matrix=np.arange(16, dtype=np.float32).reshape(4, 4))
    links.found_changed.emit(links.found)
    links.set_visible(True)
    view.reset_mock()
    return presenter, links


def test_links_are_drawn_while_shown_with_their_count_and_a_status_line(view):
    links = LinksState()
    presenter = LinksPresenter(view, links, Mock(spec=ReviewSession))  # held: Qt holds a bound slot's owner weakly
    view.show_visible.assert_called_once_with(False)
    links.set_visible(True)
    view.show_visible.assert_called_with(True)
    view.show_links.assert_called_with([], DEFAULT_LINKS)
    view.show_status.assert_called_with(f"Links: the {DEFAULT_LINKS} strongest ([ and ] for fewer or more)")
    links.set_count(DEFAULT_LINKS + 5)
    view.show_links.assert_called_with([], DEFAULT_LINKS + 5)
    links.set_visible(False)
    view.show_visible.assert_called_with(False)
    view.show_status.assert_called_with("")
    assert presenter.hovered is None


def test_the_pointer_over_image_1_paints_its_matches_over_image_2(view, shown):
    presenter, _links = shown
    presenter.pointer((0, 30.0, 5.0))  # the top right cell of image 1: cell 1, row 1 of the matrix
    assert presenter.hovered == (0, 1)
    slot, heat, box = view.show_match.call_args.args
    assert slot == 1 and box == (20, 0, 80, 40)
    assert np.allclose(heat, np.array([[4, 5], [6, 7]]) / 7)
    view.reset_mock()
    presenter.pointer((0, 31.0, 6.0))  # the same cell: nothing redrawn
    view.show_match.assert_not_called()


def test_the_pointer_over_image_2_paints_on_image_1_within_image_2s_crop(view, shown):
    presenter, _links = shown
    presenter.pointer((1, 25.0, 35.0))  # inside the crop's bottom left cell: cell 2, column 2 of the matrix
    slot, heat, box = view.show_match.call_args.args
    assert presenter.hovered == (1, 2) and slot == 0 and box == (0, 0, 40, 40)
    assert np.allclose(heat, np.array([[2, 6], [10, 14]]) / 14)
    view.reset_mock()
    presenter.pointer((1, 5.0, 5.0))  # left of the crop: no cell, the match is cleared
    assert presenter.hovered is None
    assert view.show_match.call_args_list == [call(0, None, None), call(1, None, None)]


def test_leaving_hiding_links_or_a_new_correspondence_clear_the_match(view, shown):
    presenter, links = shown
    for clear in (lambda: presenter.pointer(None), lambda: links.set_visible(False),
                  lambda: links.found_changed.emit(None)):
        links.set_visible(True)
        presenter.pointer((0, 5.0, 5.0))
        assert presenter.hovered == (0, 0)
        view.reset_mock()
        clear()
        assert presenter.hovered is None and call(1, None, None) in view.show_match.call_args_list


def test_the_pointer_does_nothing_while_links_are_hidden(view, shown):
    presenter, links = shown
    links.set_visible(False)
    view.reset_mock()
    presenter.pointer((0, 5.0, 5.0))
    assert presenter.hovered is None and view.show_match.call_args_list == []
