"""How far to trust a mean over few sequences: bootstrap intervals (resampling sequences).

With a real val split of 14-25 sequences, one sequence that the tracker grounds or loses at frame 1
moves the mean AUC by several points, so two rows can differ by chance alone. Resampling the sequences with
replacement gives each row's mean a 95 % interval, and a paired interval (the same draws on both
sides) for the difference of two rows: one that holds 0 says the split cannot tell them apart.
"""
from __future__ import annotations

import numpy as np

DRAWS = 10_000


def interval(values, seed: int = 0) -> tuple[float, float, float]:
    """(mean, 2.5 %, 97.5 %) of the mean of ``values`` under resampling them with replacement."""
    values = np.asarray(values, dtype=np.float64)
    picks = np.random.default_rng(seed).integers(0, len(values), (DRAWS, len(values)))
    means = values[picks].mean(axis=1)
    return float(values.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired(a: dict[str, float], b: dict[str, float], seed: int = 0) -> tuple[float, float, float]:
    """Interval of mean(a - b) over the sequences both rows scored."""
    names = sorted(set(a) & set(b))
    if not names:
        raise ValueError("the two rows share no sequence")
    return interval(np.array([a[n] - b[n] for n in names]), seed)
