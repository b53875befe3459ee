"""Similar-case index of a gallery folder: embeddings on disk, incremental by file sha256, resumable.

The index lives in GALLERY/.siamese-lens-index/ by default: a manifest (model sha256, embedding size, one entry
per image: relative path, sha256, label, shard and row) and shards of float32 embeddings (float16 would cost
near-duplicate scores their precision). Each batch of new
embeddings is written as a new shard, then the manifest is replaced atomically, so an interrupted run loses at
most one batch and the next run continues from the last manifest. Shards no longer referenced are deleted
once a run completes.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import DataError, ImageLoadError
from core.io.files import atomic_write, file_sha256, folder_problem
from core.io.image_files import is_image_file
from core.io.images import load_image
from core.paths import user_cache_dir
from core.training.distributed import SOLO

INDEX_DIRNAME = ".siamese-lens-index"
MANIFEST = "manifest.json"
FORMAT = 1
BATCH = 32


@dataclass
class Entry:
    path: str  # relative to the gallery folder, posix
    sha256: str
    label: str | None
    shard: str
    row: int
    # The file's size and modification time when hashed: while both are unchanged the sha256 is not read again,
    # so the similar-cases panel's update before every query costs a stat per image, not a read.
    size: int = 0
    mtime_ns: int = 0


@dataclass
class GalleryIndex:
    gallery: Path
    location: Path
    model_sha256: str
    dim: int
    entries: list[Entry]

    def embeddings(self) -> np.ndarray:
        """(N, D) float32 unit embeddings in entry order."""
        out = np.zeros((len(self.entries), self.dim), np.float32)
        shards: dict[str, np.ndarray] = {}
        for n, entry in enumerate(self.entries):
            if entry.shard not in shards:
                shards[entry.shard] = np.load(self.location / entry.shard, mmap_mode="r")
            out[n] = shards[entry.shard][entry.row]
        return out

    def path_of(self, entry: Entry) -> Path:
        return self.gallery / entry.path

    @property
    def labels(self) -> list[str | None]:
        return [entry.label for entry in self.entries]


def scan_gallery(root: Path) -> list[tuple[Path, str | None]]:
    """Every image of a folder: files in a sub-folder are labelled by its name, files at the top by nothing."""
    found = []
    for path in sorted(root.rglob("*")):
        if INDEX_DIRNAME in path.parts or not is_image_file(path):
            continue
        parts = path.relative_to(root).parts
        found.append((path, parts[0] if len(parts) > 1 else None))
    return found


def index_location(gallery: Path, out: Path | None = None) -> Path:
    """Next to the gallery by default; a gallery one may not write to (a read-only archive, or one whose index
    folder is read-only) gets its index in the application's cache folder instead, keyed by the gallery's path."""
    if out:
        return Path(out)
    beside = Path(gallery) / INDEX_DIRNAME
    if os.access(beside if beside.exists() else gallery, os.W_OK):
        return beside
    key = hashlib.sha1(str(Path(gallery).resolve()).encode()).hexdigest()[:16]
    return user_cache_dir() / "indexes" / key


def index_note(index: GalleryIndex) -> str | None:
    """What to tell the reviewer when the index does not lie beside its gallery (None when it does)."""
    if not Path(index.location).resolve().is_relative_to(user_cache_dir().resolve()):
        return None
    return f"the gallery folder is read-only: its index is kept in {index.location}"


def open_index(location: Path, model_sha256: str | None = None) -> GalleryIndex:
    """Read an index folder; refuse one made with another model (never mix two embedding spaces)."""
    manifest = Path(location) / MANIFEST
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        entries = [Entry(**e) for e in data["entries"]]
        index = GalleryIndex(Path(data["gallery"]), Path(location), str(data["model_sha256"]), int(data["dim"]),
                             entries)
    except FileNotFoundError:
        raise DataError(f"{location}: no similar-case index here (build one with: main.py index GALLERY_DIR)") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise DataError(f"{manifest}: not a readable similar-case index") from None
    if model_sha256 and index.model_sha256 != model_sha256:
        raise DataError(f"{location}: index was built with another model (sha256 {index.model_sha256[:12]}…); "
                        f"rebuild it for this one with: main.py index {index.gallery} --rebuild")
    return index


def build_index(model, gallery, out: Path | None = None, rebuild: bool = False, progress=None,
                should_stop=None, group=SOLO) -> tuple[GalleryIndex, dict]:
    """Create or update the index of `gallery` for `model`: only new or changed files (by sha256) are embedded,
    deleted ones are dropped, unreadable ones are skipped (counts["skipped"] says why). progress(done, total) after
    each batch; should_stop() -> True interrupts cleanly
    (the index then holds every batch finished so far). Returns (index, counts).

    Under torchrun (`group`, core.training.distributed) the ranks hash a share of the files each, embed whole batches of
    the sha256 order in turn, and rank 0 alone writes: the same index, to the bit, as one process builds."""
    gallery = Path(gallery).resolve()
    if not gallery.is_dir():
        raise DataError(f"{gallery}: not a folder")
    location = index_location(gallery, out)
    unusable = folder_problem(location)
    if unusable:  # said now, not after hashing every gallery file, and not as mkdir's "[Errno 17] File exists"
        raise DataError(f"{unusable}: it cannot hold the index")
    model_sha = str(model.metadata.get("sha256", ""))
    previous: dict[str, Entry] = {}
    if (location / MANIFEST).exists() and not rebuild:
        previous = {e.path: e for e in open_index(location, model_sha).entries}
    files = scan_gallery(gallery)
    if not files:
        raise DataError(f"{gallery}: no images found")
    entries, todo = [], []
    identities = group.map_all(files, lambda item: _identify(item[0], gallery, previous))  # hashing: the slow part
    for (path, label), (stat, digest) in zip(files, identities, strict=True):
        relative = path.relative_to(gallery).as_posix()
        old = previous.get(relative)
        if old is not None and old.sha256 == digest:
            entries.append(Entry(relative, digest, label, old.shard, old.row, stat.st_size, stat.st_mtime_ns))
        else:
            todo.append((relative, digest, label, stat.st_size, stat.st_mtime_ns))
    counts: dict[str, Any] = {"images": len(files), "unchanged": len(entries), "embedded": 0,
                              "removed": len(set(previous) - {p.relative_to(gallery).as_posix() for p, _ in files}),
                              "interrupted": False, "skipped": []}
    dim = model.config.embedding_dim
    changed = bool(todo or counts["removed"] or rebuild) or not (location / MANIFEST).exists()
    if changed and group.leader:  # nothing changed: nothing is rewritten
        location.mkdir(parents=True, exist_ok=True)
        _write_manifest(location, gallery, model_sha, dim, entries)

    def stop() -> bool:
        counts["interrupted"] = bool(should_stop())
        return counts["interrupted"]

    todo.sort(key=lambda item: item[1])  # by sha256: each batch is the same wherever it is embedded (same floats)
    batches = [todo[start:start + BATCH] for start in range(0, len(todo), BATCH)]
    for _, (batch, embeddings, skipped) in group.map_to_leader(batches, lambda b: _embed_batch(model, gallery, b),
                                                             stop if should_stop is not None else None):
        counts["skipped"] += skipped
        if not batch:
            continue
        shard = f"shard-{uuid.uuid4().hex[:12]}.npy"
        _atomic_save(location / shard, embeddings.astype(np.float32))
        entries += [Entry(rel, digest, label, shard, row, size, mtime)
                    for row, (rel, digest, label, size, mtime) in enumerate(batch)]
        _write_manifest(location, gallery, model_sha, dim, entries)
        counts["embedded"] += len(batch)
        if progress is not None:
            progress(counts["unchanged"] + counts["embedded"], len(files))
    if changed and not counts["interrupted"] and group.leader:
        entries.sort(key=lambda e: e.path)
        _write_manifest(location, gallery, model_sha, dim, entries)
        _remove_unreferenced(location, {e.shard for e in entries})
    group.barrier()  # the other ranks read the index rank 0 has written
    return open_index(location, model_sha), group.from_leader(counts)


def _identify(path: Path, gallery: Path, previous: dict[str, Entry]) -> tuple[os.stat_result, str]:
    """(stat, sha256) of a gallery file; the sha256 is read from the previous index while size and time match."""
    stat = path.stat()
    old = previous.get(path.relative_to(gallery).as_posix())
    if old is not None and old.size == stat.st_size and old.mtime_ns == stat.st_mtime_ns:
        return stat, old.sha256
    return stat, file_sha256(path)


def _embed_batch(model, gallery: Path, todo: list) -> tuple[list, np.ndarray | None, list[str]]:
    """(the readable items of a batch, their embeddings, why the others were skipped)."""
    batch, tensors, skipped = [], [], []
    for item in todo:
        try:
            tensors.append(model.preprocess(load_image(gallery / item[0]).image))
            batch.append(item)
        except ImageLoadError as exc:  # one unreadable file must not cost the whole gallery
            skipped.append(str(exc))
    return batch, _embed(model, tensors) if batch else None, skipped


@torch.no_grad()
def _embed(model, tensors: list) -> np.ndarray:
    model.eval()
    return model.embed(torch.cat(tensors)).float().cpu().numpy()


def _write_manifest(location: Path, gallery: Path, model_sha: str, dim: int, entries: list[Entry]) -> None:
    payload = {"format": FORMAT, "gallery": str(gallery), "model_sha256": model_sha, "dim": dim,
               "entries": [asdict(e) for e in entries]}
    atomic_write(location / MANIFEST, json.dumps(payload).encode())


def _atomic_save(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda handle: np.save(handle, array))


def _remove_unreferenced(location: Path, referenced: set[str]) -> None:
    for path in location.iterdir():
        stale_shard = path.name.startswith("shard-") and path.name not in referenced
        if stale_shard or path.name.endswith(".tmp"):  # temporaries of a killed run
            path.unlink(missing_ok=True)
