"""Inference on bootstrap distributions: tail probabilities, multiple-test correction, power (pure)."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Literal

import numpy as np

from gatekeeper.metrics import Array

Correction = Literal["holm", "bh", "none"]
POWER = 0.8


def tail_probability(gains: Array, threshold: float, upper: bool) -> float:
    """Bootstrap P(gain* >= threshold) (upper) or P(gain* <= threshold).

    The plain fraction of resamples where it has 10 or more of them; beyond that resolution,
    the normal tail with the resamples' mean and standard deviation.
    """
    hits = int(np.count_nonzero(gains >= threshold if upper else gains <= threshold))
    if hits >= 10:
        return hits / len(gains)
    sd = float(np.std(gains))
    if sd == 0:
        mean = float(np.mean(gains))
        return float((mean >= threshold) if upper else (mean <= threshold))
    z = (float(np.mean(gains)) - threshold) / sd
    return NormalDist().cdf(z) if upper else NormalDist().cdf(-z)


def adjust(p_values: list[float], method: str, family: int | None = None) -> list[float]:
    """Holm (family-wise) or Benjamini-Hochberg (false discovery rate) adjusted p-values.

    `family`, when larger than the list, is how many tests were made in all: the ones not listed
    were not small enough to matter (a search lists only its candidates).
    """
    m = max(len(p_values), family or 0)
    if not p_values or method == "none":
        return list(p_values)
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    if method == "holm":
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p_values[i]))
            adjusted[i] = running
    elif method == "bh":
        running = 1.0
        for rank in range(len(p_values) - 1, -1, -1):
            i = order[rank]
            running = min(running, min(1.0, m * p_values[i] / (rank + 1)))
            adjusted[i] = running
    else:
        raise ValueError(f"unknown correction {method!r}; expected holm, bh or none")
    return adjusted


def rows_needed(sd: float | None, effect: float, level: float, power: float = POWER) -> int | None:
    """Rows for a paired comparison to detect `effect` at `level` with `power` (normal approximation)."""
    if sd is None or effect <= 0 or not math.isfinite(sd):
        return None
    z = NormalDist().inv_cdf(1 - (1 - level) / 2) + NormalDist().inv_cdf(power)
    return math.ceil((z * sd / effect) ** 2)
