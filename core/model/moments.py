"""A standard deviation for the small maps of one pass, where Tensor.std's one-pass CPU kernel costs a tenth of a
millisecond and more per call (0.45 ms on the explainer head's 65k values, 0.6 ms on two stage maps): two passes,
centre then root mean square, equal to it within float rounding (3e-7 relative measured) at a tenth of the cost."""

from __future__ import annotations

import torch


def std(values: torch.Tensor, dim: int, correction: int = 1) -> torch.Tensor:
    """values.std(dim=dim, correction=correction), computed in two passes."""
    centred = values - values.mean(dim, keepdim=True)
    return centred.square_().sum(dim).div_(values.shape[dim] - correction).sqrt_()
