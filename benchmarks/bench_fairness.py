"""Time raikit's fairness assessment against fairlearn's MetricFrame, same data and metrics.

Usage::

    python benchmarks/bench_fairness.py [--rows 10000 100000 1000000] [--repeats 3]
                                        [--bootstrap-rows 1000] [--bootstrap-replicates 100]

Data: synthetic decisions with two sensitive columns of strings (5 and 2 groups), so three
attributes: each column and their intersection. Compared at each size:

* **raikit**: ``assess_fairness`` as a user calls it (what ``rai audit`` runs): the groups,
  each group's figures and every disparity, with Wilson intervals for the group rates and
  1,000 bootstrap replicates for the disparities;
* **fairlearn**: what a fairlearn user writes for the same figures *without* intervals: one
  ``MetricFrame`` per attribute with the same six metrics (selection rate, TPR, FPR, FNR,
  precision, accuracy) on the string columns, then ``.difference()`` and ``.ratio()``.

Then, at ``--bootstrap-rows`` only, both with ``--bootstrap-replicates`` replicates:
fairlearn with a row bootstrap (resample rows, one MetricFrame per attribute per replicate:
what intervals cost without raikit's cell-count bootstrap), measured, not extrapolated.

The sides run interleaved (raikit, fairlearn, raikit, ...) after a warm-up of both on 10,000
rows; each cell is the median (min-max) of ``--repeats`` rounds, and the speed-up is the
median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import functools
import sys
import warnings

import numpy as np
import pandas as pd
from _timing import interleave, markdown_table, paired_ratios, preamble, summary

from raikit.audit.fairness import FairnessConfig, _fairlearn_metrics, assess_fairness

ATTRIBUTES = (["colour"], ["sex"], ["colour", "sex"])


def make_data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    colour = rng.choice(np.array(list("ABCDE"), dtype=object), rows, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    sex = rng.choice(np.array(["Female", "Male"], dtype=object), rows, p=[0.45, 0.55])
    y_true = (rng.random(rows) < 0.4).astype(np.int8)
    # Decisions that track the truth and differ a little by group, so disparities are real.
    bias = 0.05 * (colour == "A") - 0.04 * (sex == "Female")
    y_pred = (rng.random(rows) < 0.2 + 0.5 * y_true + bias).astype(np.int8)
    return y_true, y_pred, pd.DataFrame({"colour": colour, "sex": sex})


def fairlearn_points(y_true, y_pred, features: pd.DataFrame) -> None:
    """Per-group figures and differences/ratios of every attribute, no intervals."""
    from fairlearn.metrics import MetricFrame

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for columns in ATTRIBUTES:
            frame = MetricFrame(
                metrics=_fairlearn_metrics(),
                y_true=y_true,
                y_pred=y_pred,
                sensitive_features=features[columns],
            )
            frame.difference()
            frame.ratio()


def fairlearn_bootstrap(y_true, y_pred, features: pd.DataFrame, replicates: int, seed: int):
    """Point figures, then ``replicates`` row-resampling replicates, and percentile intervals."""
    rng = np.random.default_rng(seed)
    fairlearn_points(y_true, y_pred, features)
    differences = []
    for _ in range(replicates):
        rows = rng.integers(0, len(y_true), len(y_true))
        sample = features.iloc[rows]
        differences.append(_differences(y_true[rows], y_pred[rows], sample))
    np.nanpercentile(np.array(differences), [2.5, 97.5], axis=0)


def _differences(y_true, y_pred, features: pd.DataFrame) -> list[float]:
    from fairlearn.metrics import MetricFrame

    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for columns in ATTRIBUTES:
            frame = MetricFrame(
                metrics=_fairlearn_metrics(),
                y_true=y_true,
                y_pred=y_pred,
                sensitive_features=features[columns],
            )
            values += list(frame.difference()) + list(frame.ratio())
    return values


def compare(data: tuple, config: FairnessConfig, baseline, repeats: int) -> list[str]:
    """Median (min-max) seconds of raikit and ``baseline`` and the median per-round speed-up."""
    y_true, y_pred, features = data
    sides = {
        "raikit": lambda: assess_fairness(y_true, y_pred, features, config=config),
        "baseline": lambda: baseline(y_true, y_pred, features),
    }
    runs = interleave(sides, repeats=repeats, warmup=0)
    raikit, baseline = runs["raikit"].seconds, runs["baseline"].seconds
    return [
        summary(raikit, "{:.2f}", " s"),
        summary(baseline, "{:.2f}", " s"),
        summary(paired_ratios(baseline, raikit), "{:.1f}", "x"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bootstrap-rows", type=int, default=1_000)
    parser.add_argument("--bootstrap-replicates", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    config = FairnessConfig(seed=args.seed)
    y_true, y_pred, features = make_data(10_000, args.seed)
    # Warm-up: imports and first calls of both sides are not what is measured.
    assess_fairness(y_true, y_pred, features, config=config)
    fairlearn_points(y_true, y_pred, features)

    rows = []
    for n in args.rows:
        data = make_data(n, args.seed)
        rows.append([f"{n:,}", *compare(data, config, fairlearn_points, args.repeats)])
        print(f"{n:,} rows done", file=sys.stderr, flush=True)

    n, replicates = args.bootstrap_rows, args.bootstrap_replicates
    small = FairnessConfig(seed=args.seed, n_bootstrap=replicates)
    baseline = functools.partial(fairlearn_bootstrap, replicates=replicates, seed=args.seed)
    bootstrap_row = [f"{n:,}", *compare(make_data(n, args.seed), small, baseline, args.repeats)]

    print(preamble())
    print(
        f"Three attributes (5 groups, 2 groups, their 10-group intersection); each cell: median "
        f"(min-max) of {args.repeats} interleaved rounds.\n"
    )
    print("raikit with 1,000 bootstrap replicates vs fairlearn without intervals:\n")
    header = ["rows", "raikit, with intervals", "fairlearn MetricFrame, no intervals", "speed-up"]
    print(markdown_table(header, rows))
    print(f"\nBoth with {replicates} bootstrap replicates (fairlearn resampling rows):\n")
    header = ["rows", "raikit", "fairlearn + row bootstrap", "speed-up"]
    print(markdown_table(header, [bootstrap_row]))


if __name__ == "__main__":
    main()
