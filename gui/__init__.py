"""The review workstation: PySide6 views, a presenter holding the review state, and the one ModelRunner thread.

Nothing here imports torch at module level: core (and torch with it) is imported by the runner on its own thread,
so the window appears while the model is still loading.
"""
