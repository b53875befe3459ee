"""Widgets only: they draw what the models say and hand what the reviewer does to the presenters."""
