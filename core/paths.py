"""Where bundled things live, from source and from a PyInstaller bundle alike (never the current directory)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def app_root() -> Path:
    """The folder holding weights/ and resources/: the repository, or the frozen app's bundle folder."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parent.parent


def weights_dir() -> Path:
    return app_root() / "weights"


def resources_dir() -> Path:
    return app_root() / "resources"


def default_weights_path() -> Path:
    """The shipped default model: dermatology review is the product's primary use."""
    return weights_dir() / "skin.pt"


def shipped_models() -> list[Path]:
    return sorted(weights_dir().glob("*.pt"))


def user_cache_dir() -> Path:
    """The platform's per-user cache folder for the app (what can be rebuilt, e.g. a read-only gallery's index):
    XDG_CACHE_HOME on Linux, Library/Caches, LOCALAPPDATA."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "SiameseLens"


def user_data_dir() -> Path:
    """The platform's per-user data folder for the app (no Qt needed): XDG on Linux, Application Support, AppData."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "SiameseLens"
