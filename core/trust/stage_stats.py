"""What the out-of-domain check (core.trust.domain, version 2) looks at: per-channel mean and standard deviation of the
backbone's intermediate stages, captured by forward hooks during a forward pass the caller makes anyway.

A model trained on one domain keeps its earlier stages generic (textures, colours, edges), and those are what
tell a flower or a room from a lesion; the last stage is trained to separate the classes, and folds foreign
images onto them (measured on the skin model: 48 % of room images flagged by a k-NN on the last stage's pooled
features, 97 % by these two stages).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch

from core.model import moments

STRIDES = (8, 16)  # the stages compared: the last module at 1/8 and at 1/16 of the input resolution


def stage_indices(model) -> list[int]:
    """Indices into model.features of the stages to summarise: for each stride in STRIDES the last module with
    that output stride, the final (explained, class-specific) module excluded; [the module before it] when
    none qualifies."""
    size = int(model.config.input_size)
    children = list(model.features)
    strides: dict[int, int] = {}
    hooks = [child.register_forward_hook(lambda _m, _i, out, n=n: strides.__setitem__(n, round(size / out.shape[-1])))
             for n, child in enumerate(children[:-1])]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model.features(torch.zeros(1, 3, size, size, device=model.device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    chosen = [max(n for n, s in strides.items() if s == stride) for stride in STRIDES if stride in strides.values()]
    return chosen or [len(children) - 2]


class Captured(Mapping[int, np.ndarray]):
    """index -> the (N, 2C) float32 statistics of that module's output in the last pass: the hook keeps the output
    tensor, the statistics are computed when first read. Computed inside the hooks they cost the first pass 1.3 ms
    against 0.6 ms after it (skin model, one thread, same numbers; docs/explanations.md, session 14)."""

    def __init__(self) -> None:
        self._outputs: dict[int, tuple[torch.Tensor, int]] = {}
        self._stats: dict[int, np.ndarray] = {}

    def keep(self, index: int, output: torch.Tensor) -> None:
        self._outputs[index] = (output.detach(), output._version)
        self._stats.pop(index, None)

    def __getitem__(self, index: int) -> np.ndarray:
        if index not in self._stats:
            output, version = self._outputs[index]
            # A stage is a whole block, whose output no later module writes to; an in-place write would show here.
            if output._version != version:
                raise RuntimeError(f"the output of stage {index} was written to after the pass")
            self._stats[index] = statistics(output)
        return self._stats[index]

    def __iter__(self) -> Iterator[int]:
        return iter(self._outputs)

    def __len__(self) -> int:
        return len(self._outputs)


def statistics(output: torch.Tensor) -> np.ndarray:
    """(N, C, h, w) -> (N, 2C) float32 [channel means, channel standard deviations]."""
    with torch.no_grad():
        flat = output.detach().float().flatten(2)
        return torch.cat([flat.mean(2), moments.std(flat, 2, correction=0)], dim=1).cpu().numpy()


@contextmanager
def capture(model, indices) -> Iterator[Captured]:
    """Within the block, each forward pass through model.features leaves, per index, the (N, 2C) float32 array
    [channel means, channel standard deviations] of that module's output in the yielded mapping (read it before
    the next pass: each pass replaces the last)."""
    captured = Captured()
    handles = [model.features[int(i)].register_forward_hook(
        lambda _m, _i, output, index=int(i): captured.keep(index, output)) for i in indices]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()
