"""Time assess_fairness against a naive row-resampling bootstrap with fairlearn's MetricFrame.

Usage::

    python benchmarks/bench_fairness.py [--rows 1000000] [--bootstrap 1000]
                                        [--baseline-replicates 3]

Data: ``--rows`` synthetic decisions with two sensitive columns of strings (5 and 2 groups,
so 3 attributes including the intersection). raikit's figures are broken down into
preparing/encoding the groups, counting cells, the MetricFrame point estimates and the
multinomial bootstrap. The baseline resamples rows and runs MetricFrame (integer group
codes, its fastest input) on every attribute, for a few replicates; its per-replicate time
is extrapolated to ``--bootstrap`` replicates.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from raikit.audit.fairness import (
    FairnessConfig,
    _counts,
    _fairlearn_metrics,
    _point_metrics,
    assess_fairness,
)
from raikit.audit.groups import fit_groups
from raikit.audit.stats import percentile_interval, resample_counts


def make_data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    colour = rng.choice(np.array(list("ABCDE"), dtype=object), rows, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    sex = rng.choice(np.array(["Female", "Male"], dtype=object), rows, p=[0.45, 0.55])
    y_true = (rng.random(rows) < 0.4).astype(np.int8)
    # Decisions that track the truth and differ a little by group, so disparities are real.
    bias = 0.05 * (colour == "A") - 0.04 * (sex == "Female")
    y_pred = (rng.random(rows) < 0.2 + 0.5 * y_true + bias).astype(np.int8)
    return y_true, y_pred, pd.DataFrame({"colour": colour, "sex": sex})


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def breakdown(y_true, y_pred, features, config: FairnessConfig) -> dict[str, float]:
    """Time the stages assess_fairness goes through, stage by stage."""
    seconds = dict.fromkeys(["prepare + encode", "cell counts", "MetricFrame", "bootstrap"], 0.0)
    start = time.perf_counter()
    attributes = fit_groups(features).attributes(
        features, intersections=config.intersections, min_groups=2
    )
    seconds["prepare + encode"] = time.perf_counter() - start
    rng = np.random.default_rng(config.seed)
    for attribute in attributes:
        counts, elapsed = timed(
            _counts.cell_counts, attribute.codes, y_true, y_pred, len(attribute.groups)
        )
        seconds["cell counts"] += elapsed
        seconds["MetricFrame"] += timed(_point_metrics, counts)[1]
        start = time.perf_counter()
        replicates = _counts.metrics_from_counts(resample_counts(counts, config.n_bootstrap, rng))
        replicates.update(_counts.disparities_from_rates(replicates))
        for values in replicates.values():
            percentile_interval(values, config.confidence_level)
        seconds["bootstrap"] += time.perf_counter() - start
    return seconds


def naive_replicate(y_true, y_pred, codes: list[np.ndarray], rng) -> None:
    """One row-resampling bootstrap replicate: MetricFrame on every attribute."""
    from fairlearn.metrics import MetricFrame

    rows = rng.integers(0, len(y_true), len(y_true))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for group_codes in codes:
            # The constructor computes every group's figures; nothing more is asked.
            MetricFrame(
                metrics=_fairlearn_metrics(),
                y_true=y_true[rows],
                y_pred=y_pred[rows],
                sensitive_features=group_codes[rows],
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--baseline-replicates", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    y_true, y_pred, features = make_data(args.rows, args.seed)
    config = FairnessConfig(n_bootstrap=args.bootstrap, seed=args.seed)
    # Warm-up on a small slice: imports (fairlearn, sklearn) are not what is measured.
    assess_fairness(y_true[:1000], y_pred[:1000], features.iloc[:1000], config=config)

    result, total = timed(assess_fairness, y_true, y_pred, features, config=config)
    groups = sum(len(a.groups) for a in result.attributes)
    print(
        f"data: {args.rows:,} rows x {features.shape[1]} sensitive columns -> "
        f"{len(result.attributes)} attributes, {groups} groups; n_bootstrap={args.bootstrap}"
    )
    print(f"raikit assess_fairness total          {total:8.3f} s")
    stages = breakdown(y_true, y_pred, features, config)
    for stage, seconds in stages.items():
        print(f"  {stage:<36}{seconds:8.3f} s")

    grouping = fit_groups(features)
    codes = [a.codes for a in grouping.attributes(features, intersections=config.intersections)]
    rng = np.random.default_rng(args.seed)
    _, elapsed = timed(
        lambda: [
            naive_replicate(y_true, y_pred, codes, rng) for _ in range(args.baseline_replicates)
        ]
    )
    per_replicate = elapsed / args.baseline_replicates
    extrapolated = per_replicate * args.bootstrap
    print(
        f"baseline: row resampling + MetricFrame  {per_replicate:8.3f} s per replicate "
        f"({args.baseline_replicates} run)"
    )
    print(f"  extrapolated to {args.bootstrap} replicates      {extrapolated:8.1f} s")
    print(f"speed-up, bootstrap vs bootstrap       {extrapolated / stages['bootstrap']:8.0f}x")
    print(f"speed-up, baseline vs whole assessment {extrapolated / total:8.0f}x")


if __name__ == "__main__":
    main()
