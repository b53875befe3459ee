"""Data sets as a folder per class: scanning, a seeded split by image, Livieris-style pairs and a decoded cache."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from core.errors import DataError, ImageLoadError
from core.io.files import atomic_write
from core.io.image_files import is_image_file
from core.io.images import load_image
from core.model.lesion import find_lesion
from core.model.preprocess import lesion_view, square_input

SPLITS = ("train", "val", "test")


@dataclass
class Dataset:
    root: Path
    classes: list[str]
    paths: list[Path]
    labels: np.ndarray  # int class index per path

    def relative(self, index: int) -> str:
        return self.paths[index].relative_to(self.root).as_posix()

    def subset(self, indices) -> "Dataset":
        indices = list(indices)
        return Dataset(self.root, self.classes, [self.paths[i] for i in indices], self.labels[indices])


def scan_dataset(root) -> Dataset:
    """Every image under root/<class>/, sorted, so the same folder always gives the same order."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of class folders")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths, labels = [], []
    for index, name in enumerate(classes):
        for path in sorted((root / name).rglob("*")):
            if is_image_file(path):
                paths.append(path)
                labels.append(index)
    if len({*labels}) < 2:
        raise DataError(f"{root}: needs at least two class folders with images (found {len({*labels})})")
    return Dataset(root, classes, paths, np.asarray(labels, dtype=np.int64))


def split_by_image(dataset: Dataset, seed: int, val_fraction: float = 0.15,
                   test_fraction: float = 0.15) -> dict[str, np.ndarray]:
    """Stratified split of image indices before any pairing, so no image appears in two splits."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {name: [] for name in SPLITS}
    for label in np.unique(dataset.labels):
        members = np.flatnonzero(dataset.labels == label)
        rng.shuffle(members)
        n_test = int(round(len(members) * test_fraction))
        n_val = int(round(len(members) * val_fraction))
        parts["test"].extend(members[:n_test])
        parts["val"].extend(members[n_test:n_test + n_val])
        parts["train"].extend(members[n_test + n_val:])
    return {name: np.sort(np.asarray(idx, dtype=np.int64)) for name, idx in parts.items()}


def make_pairs(labels: np.ndarray, rng: np.random.Generator, max_pairs: int | None = None) -> np.ndarray:
    """Livieris et al. pairs: for each image one partner of its class and one of another class, never itself.

    Returns (P, 3) int array of (i, j, same). Images of a class with no other member get no positive pair.
    """
    labels = np.asarray(labels)
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    pairs = []
    for i, label in enumerate(labels):
        same = by_class[label]
        if len(same) > 1:
            j = same[rng.integers(len(same) - 1)]
            j = same[-1] if j == i else j  # draw from the class without i itself
            pairs.append((i, j, 1))
        others = np.flatnonzero(labels != label)
        if len(others):
            pairs.append((i, others[rng.integers(len(others))], 0))
    result = np.asarray(pairs, dtype=np.int64).reshape(-1, 3)
    if max_pairs is not None and len(result) > max_pairs:
        result = result[np.sort(rng.choice(len(result), max_pairs, replace=False))]
    return result


def seen_fingerprints(dataset: Dataset, indices) -> list[str]:
    """Short hashes of the relative paths a model was trained/tuned on, to keep them out of later evaluations."""
    return sorted(path_fingerprint(dataset.relative(i)) for i in indices)


def path_fingerprint(relative_path: str) -> str:
    return hashlib.sha1(relative_path.encode()).hexdigest()[:10]


def load_cache(dataset: Dataset, size: int, cache_dir: str | Path | None = None, progress=None, view=None,
               with_mask: bool = False, unreadable: dict[int, str] | None = None) -> torch.Tensor:
    """All images decoded once and turned into the network's size x size input, as a uint8 (N, C, size, size)
    tensor: C = 3, or 4 with the automatic lesion mask (0/255) as the last channel when `with_mask`.

    `view` is the model's ModelConfig (its lesion crop and colour constancy are applied, as at inference);
    None means a plain resize. Decoding JPEGs every epoch would starve the model on 2 cores; the cache is
    stored on disk when cache_dir is given, keyed by the files' names, sizes and times and by the preprocessing.

    An unreadable image raises DataError, unless `unreadable` is given: then its index and one-line problem are
    recorded there and its row is left black for the caller to leave out; such a cache is never stored, so the
    next run reads (and reports) the file again.
    """
    crop = view is not None and view.lesion_crop
    margin = view.crop_margin if crop else 0.0
    constancy = view is not None and view.color_constancy
    key = hashlib.sha1(f"{size}|{crop}|{margin}|{constancy}|{with_mask}".encode())
    for path in dataset.paths:
        stat = path.stat()
        key.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    cache_file = Path(cache_dir) / f"images-{key.hexdigest()[:16]}.npy" if cache_dir else None
    channels = 4 if with_mask else 3
    if cache_file is not None and cache_file.exists():
        cached = _read_cache(cache_file, (len(dataset.paths), channels, size, size))
        if cached is not None:
            return cached
    out = np.empty((len(dataset.paths), channels, size, size), dtype=np.uint8)
    for n, path in enumerate(dataset.paths):
        try:
            image = load_image(path).image
        except ImageLoadError as exc:
            if unreadable is None:
                raise DataError(str(exc)) from None
            unreadable[n] = str(exc)
            out[n] = 0
        else:
            mask = None
            if crop:
                image, _box, mask = lesion_view(image, margin)
            elif with_mask:
                mask = find_lesion(np.asarray(image)).mask
            out[n, :3] = np.asarray(square_input(image, size, constancy)).transpose(2, 0, 1)
            if with_mask and mask is not None:  # never None with_mask: set above
                out[n, 3] = cv2.resize(mask.astype(np.uint8) * 255, (size, size), interpolation=cv2.INTER_LINEAR)
        if progress is not None:
            progress(n + 1, len(dataset.paths))
    if cache_file is not None and not unreadable:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            # Whole or absent: a full disk or a kill never leaves a partial cache under the real name.
            atomic_write(cache_file, lambda handle: np.save(handle, out))
        except OSError:  # a cache is only an optimisation: a full disk costs speed next time, not this run
            pass
    return torch.from_numpy(out)


def _read_cache(cache_file: Path, shape: tuple) -> torch.Tensor | None:
    """The cached array if it is whole and of the expected shape; a damaged one is removed (and rebuilt)."""
    try:
        # copy-on-write: a tensor over it may be written in place (torch assumes so), the file never is
        cached = np.load(cache_file, mmap_mode="c")
        if cached.shape == shape and cached.dtype == np.uint8:
            return torch.from_numpy(np.ascontiguousarray(cached))
    except (OSError, ValueError, EOFError):
        pass
    cache_file.unlink(missing_ok=True)
    return None
