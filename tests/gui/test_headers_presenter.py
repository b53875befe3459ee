"""The line over each image (gui.presenters.headers) on an autospec'd view: its name, and its size or crop in the
file's own pixels. No widgets, no images loaded."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import Mock, call, create_autospec

import pytest

from gui.models.session import ReviewSession
from gui.presenters.headers import HeadersView, PairHeaders


@pytest.fixture
def view():
    return create_autospec(HeadersView, instance=True)


def ready(path="/cases/lesion.png", loaded=(2000, 1600), scale=2.5):
    """A loaded image as the session announces it: held at `loaded` px, its file `scale` times larger."""
    size = (round(loaded[0] * scale), round(loaded[1] * scale))
    return SimpleNamespace(image=SimpleNamespace(path=path, original_size=loaded, file_size=size, scale=scale))


def test_a_huge_image_header_names_its_file_size_not_the_loaded_one(view):
    headers = PairHeaders(view, Mock(spec=ReviewSession))
    headers.image_changed(0, ready())
    view.show_header.assert_called_with(0, "Image 1: lesion.png", "  (5000 × 4000 px)", "/cases/lesion.png")
    headers.crop_changed(0, (100, 40, 800, 600), False)  # in the loaded image's pixels
    view.show_header.assert_called_with(0, "Image 1: lesion.png", "  · crop 250,100 2000 × 1500 of 5000 × 4000 px",
                                        "/cases/lesion.png")


def test_an_automatic_crop_is_named_and_clearing_it_says_whole_image(view):
    headers = PairHeaders(view, Mock(spec=ReviewSession))
    headers.image_changed(1, ready(scale=1.0))
    headers.crop_changed(1, (10, 20, 300, 200), True)
    assert view.show_header.call_args.args[2] == "  · automatic lesion crop 10,20 300 × 200 of 2000 × 1600 px"
    headers.crop_changed(1, (0, 0, 2000, 1600), False)  # Shift+C: the whole image, not a box
    assert view.show_header.call_args.args[2] == "  · whole image, 2000 × 1600 px (no crop)"
    headers.crop_changed(1, None, False)
    assert view.show_header.call_args.args[2] == "  (2000 × 1600 px)"


def test_a_pasted_image_and_an_empty_slot(view):
    session = Mock(spec=ReviewSession)
    headers = PairHeaders(view, session)
    assert session.image_changed.connect.call_args == call(headers.image_changed)
    headers.image_changed(0, ready(path=None, scale=1.0))
    view.show_header.assert_called_with(0, "Image 1: pasted image", "  (2000 × 1600 px)", "")
    headers.image_changed(0, None)
    view.show_header.assert_called_with(0, "Image 1", "", "")
