"""Milliseconds between two time.perf_counter() readings, as every timing the product reports them."""

from __future__ import annotations


def elapsed_ms(start: float, end: float) -> float:
    return round((end - start) * 1000.0, 2)
