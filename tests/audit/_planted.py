"""A small seeded table with a planted disparity: group 'a' is hired far more often than 'b'."""

from __future__ import annotations

import numpy as np
import pandas as pd


def planted_frame(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """``hired`` depends on ``skill`` and on membership of group ``a``; ``proxy`` leaks it."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], size=n, p=[0.6, 0.4])
    skill = rng.normal(size=n)
    proxy = (group == "a") + rng.normal(scale=0.5, size=n)
    other = rng.normal(size=n)
    logit = 1.5 * skill + 1.5 * (group == "a") - 0.8 + 0.5 * other
    hired = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame(
        {"skill": skill, "proxy": proxy, "other": other, "group": group, "hired": hired}
    )
