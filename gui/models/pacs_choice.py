"""Which two visits, and which image of each, the reviewer chose in File > Open from PACS. A visit often holds
several images (an overview and close-ups, or several lesions): each visit is compared by the image chosen for it,
its first until the reviewer picks another, and every choice is kept while the dialog is open, so going back to a
visit shows the image picked there. gui.presenters.pacs makes it, gui.views.pacs_visits draws and edits it, and
gui.models.pacs.PacsLink pulls what it holds. No Qt: tests drive it directly."""

from __future__ import annotations

from typing import Callable

from ..jobs.tasks import check_date, image_facts, study_images


class VisitImages:
    def __init__(self, patient_id: str, visits: list, fetch_previews: Callable[[list], None]):
        """`visits`: the patient's studies with images, newest first (as PacsLink.visits_found gives them);
        `fetch_previews(images)` asks for the pictures of some images (PacsLink.fetch_previews)."""
        self.patient_id = patient_id
        self.visits = list(visits)
        self._images = {visit["study_uid"]: study_images(visit) for visit in self.visits}
        self._chosen = {uid: images[0] for uid, images in self._images.items() if images}
        self._fetch = fetch_previews
        self.selected = [visit["study_uid"] for visit in self.visits[:2]]  # the two latest, as a follow-up wants

    def images(self, study_uid: str) -> list[dict]:
        """The visit's images, numbered as `pacs find --study` numbers them."""
        return self._images[study_uid]

    def look_at(self, study_uid: str) -> list[dict]:
        """The visit's images, their pictures asked for: the reviewer is looking at them."""
        images = self._images[study_uid]
        self._fetch(images)
        return images

    def chosen(self, study_uid: str) -> dict:
        return self._chosen[study_uid]

    def choose(self, study_uid: str, number: int) -> None:
        """Compare the visit by its image `number` (1, 2, ...)."""
        self._chosen[study_uid] = self._images[study_uid][number - 1]

    def select(self, study_uids) -> None:
        """The visits to compare, in the list's order."""
        wanted = set(study_uids)
        self.selected = [visit["study_uid"] for visit in self.visits if visit["study_uid"] in wanted]

    def ready(self) -> bool:
        return len(self.selected) == 2

    def picked(self) -> list[dict]:
        """The chosen image of each selected visit, the older visit first (image 1 of the pair)."""
        images = [self._chosen[uid] for uid in self.selected]
        return sorted(images, key=lambda image: (image["date"], image["time"]))

    def visit_text(self, visit: dict) -> str:
        """A visit's row: date, accession, description, body parts; below, which of its images is chosen."""
        images = self._images[visit["study_uid"]]
        chosen = self._chosen[visit["study_uid"]]
        if len(images) == 1:
            which = "its one image"
        else:
            which = f"image {chosen['index']} of {len(images)}: {chosen['series_description'] or 'no description'}"
        parts = [self.visit_date(visit), visit["accession"], visit["description"],
                 ", ".join(sorted({image["body_part"] for image in images if image["body_part"]}))]
        return "   ".join(part for part in parts if part) + "\n" + which

    @staticmethod
    def visit_date(visit: dict) -> str:
        """The visit's date as the case record and reports write it (2026-07-12, not DICOM's 20260712)."""
        try:
            return check_date(visit["date"]) or "undated"
        except ValueError:  # not a date: shown as the PACS gave it
            return visit["date"]

    @staticmethod
    def image_text(image: dict) -> str:
        """An image's row among its visit's: its number and series description; below, the rest of what tells it
        apart (core.pacs.images.image_facts)."""
        facts = image_facts(image)
        return " | ".join(facts[:2]) + "\n" + " | ".join(facts[2:])
