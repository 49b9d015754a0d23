"""Weights and counts as shares of their whole, for people: a 1:2:7 selection is 10 %, 20 %, 70 %."""

from collections.abc import Mapping
from typing import TypeVar

K = TypeVar("K")


def percentages(weights: Mapping[K, int | float]) -> dict[K, float]:
    """Each key's share of the sum, in percent (one decimal); every share is 0 when the sum is 0."""
    total = sum(max(weight, 0) for weight in weights.values())
    if total <= 0:
        return {key: 0.0 for key in weights}
    return {key: round(100 * max(weight, 0) / total, 1) for key, weight in weights.items()}


def format_percent(value: float | None) -> str:
    """`12.5 %`, `0 %`; an unknown share (nothing measured yet) is `–`."""
    if value is None:
        return "–"
    return f"{value:g} %"


def format_rate(rate: float | None) -> str:
    """A bounce or complaint rate (a fraction) as a percentage with two decimals, `–` before any send."""
    if rate is None:
        return "–"
    return f"{100 * rate:.2f} %"
