"""Time raikit's slice discovery against sliceline and DivExplorer, and compare what they find.

Usage::

    python benchmarks/slices.py [--rows 1000000] [--sample 100000] [--repeats 3] [--no-adult]

Speed (synthetic): ``--rows`` rows x 8 categorical columns (2, 3, 4, 5, 6, 8, 10 and 12
values), errors at 10%, three times as frequent in a planted slice ``c5=1 & c7=2`` (1.04% of
rows). Compared, each searching conjunctions of up to 3 conditions for slices with more errors:

* **raikit**: ``assess_slices`` as ``rai slices`` runs it (encoding, every slice of >= 30 rows,
  Fisher's exact test, support bound, Benjamini-Hochberg at 0.05, intervals, folding);
* **sliceline** (``Slicefinder(alpha=0.99, k=10, max_l=3, min_sup=30)``; at its default
  ``alpha=0.6``, and at 0.95, it returns no slice here: its score trades the error against the
  size);
* **DivExplorer** (``get_pattern_divergence(min_support=0.01)``: it mines every depth; the
  slices of up to 3 conditions are kept afterwards).

The competitors take minutes per 100,000 rows, so they run on the first ``--sample`` rows; raikit
runs on those rows too (a same-data ratio) and on all ``--rows``. Times are medians (min-max)
of ``--repeats`` interleaved rounds after a warm-up on 10,000 rows (the competitors: one round).

Agreement (real data, adult): a logistic regression trained on half of adult, its errors on the
other half; the three tools search sex, race, age (bands), marital status, relationship and
workclass (raikit's bins, given to all three), and the tables list each tool's top slices and
where raikit's top slice ranks in the others' lists.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd
from _timing import interleave, markdown_table, paired_ratios, preamble, summary

from raikit.audit.slices import SliceConfig, assess_slices

LEVELS = (2, 3, 4, 5, 6, 8, 10, 12)
PLANTED = {"c5": "1", "c7": "2"}
ADULT_COLUMNS = ["sex", "race", "age", "marital_status", "relationship", "workclass"]


def make_data(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = {f"c{i}": rng.integers(0, n, rows) for i, n in enumerate(LEVELS)}
    inside = (codes["c5"] == 1) & (codes["c7"] == 2)
    # Categories, not numbers: raikit would bin a numeric column of 12 values into quartiles.
    frame = pd.DataFrame({c: pd.Categorical(v) for c, v in codes.items()})
    errors = (rng.random(rows) < np.where(inside, 0.3, 0.1)).astype(np.int8)
    return frame, errors


def raikit_top(frame: pd.DataFrame, errors: np.ndarray, k: int = 10) -> list[frozenset]:
    result = assess_slices(frame, np.zeros(len(errors), np.int8), errors, config=SliceConfig())
    return [frozenset(s.conditions.items()) for s in result.slices[:k]]


def sliceline_top(frame: pd.DataFrame, errors: np.ndarray, k: int = 10) -> list[frozenset]:
    from sliceline.slicefinder import Slicefinder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder = Slicefinder(alpha=0.99, k=k, max_l=3, min_sup=30, verbose=False)
        finder.fit(frame.astype(str), errors)
    return [
        frozenset((c, str(v)) for c, v in zip(frame.columns, row, strict=True) if v is not None)
        for row in finder.top_slices_
    ]


def divexplorer_top(frame: pd.DataFrame, errors: np.ndarray, k: int = 10) -> list[frozenset]:
    from divexplorer import DivergenceExplorer

    data = frame.astype(str).assign(error=errors.astype(bool))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = DivergenceExplorer(data).get_pattern_divergence(
            min_support=0.01, boolean_outcomes=["error"]
        )
    found = found[found["length"] <= 3].sort_values("error_div", ascending=False)
    return [frozenset(tuple(i.split("=", 1)) for i in s) for s in found["itemset"].head(k)]


TOOLS = {"raikit": raikit_top, "sliceline": sliceline_top, "DivExplorer": divexplorer_top}


def label(conditions: frozenset) -> str:
    return " & ".join(f"{c}={v}" for c, v in sorted(conditions)) or "(none)"


def speed(rows: int, sample: int, repeats: int) -> str:
    frame, errors = make_data(rows)
    small, small_errors = frame.head(sample), errors[:sample]
    warm_frame, warm_errors = frame.head(10_000), errors[:10_000]
    for tool in TOOLS.values():
        tool(warm_frame, warm_errors)
    raikit = interleave(
        {
            "all": lambda: raikit_top(frame, errors),
            "sample": lambda: raikit_top(small, small_errors),
        },
        repeats=repeats,
        warmup=0,
    )
    lines = []
    planted = frozenset(PLANTED.items())
    rows_out = [
        [
            f"raikit, {rows:,} rows",
            summary(raikit["all"].seconds, unit=" s"),
            "",
            raikit["all"].values[0].index(planted) + 1
            if planted in raikit["all"].values[0]
            else "-",
        ],
        [
            f"raikit, {sample:,} rows",
            summary(raikit["sample"].seconds, unit=" s"),
            "1",
            raikit["sample"].values[0].index(planted) + 1
            if planted in raikit["sample"].values[0]
            else "-",
        ],
    ]
    for name in ("sliceline", "DivExplorer"):
        start = time.perf_counter()
        top = TOOLS[name](small, small_errors)
        seconds = time.perf_counter() - start
        print(f"{name}: {seconds:.1f} s", file=sys.stderr, flush=True)
        ratio = seconds / np.median(raikit["sample"].seconds)
        rows_out.append(
            [
                f"{name}, {sample:,} rows",
                f"{seconds:.1f} s (one round)",
                f"{ratio:.0f}x raikit's time",
                top.index(planted) + 1 if planted in top else "-",
            ]
        )
    all_vs_sample = paired_ratios(raikit["all"].seconds, raikit["sample"].seconds)
    lines.append(
        markdown_table(
            ["Tool, data", "Time", "Same rows, vs raikit", "Planted slice's rank"], rows_out
        )
    )
    lines.append(
        f"\nraikit on {rows:,} rows takes {summary(all_vs_sample, unit='x')} its time on "
        f"{sample:,} rows (median of per-round ratios)."
    )
    return "\n".join(lines)


def adult_agreement() -> str:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from raikit.audit.groups import fit_groups
    from raikit.models.data import load_table

    frame = load_table("adult").frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    y = (frame.pop("income_per_year") == ">50K").to_numpy(dtype=np.int8)
    categorical = [
        c for c in frame.columns if frame[c].dtype == object or str(frame[c].dtype) == "str"
    ]
    numeric = [c for c in frame.columns if c not in categorical]
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), categorical), (StandardScaler(), numeric)
        ),
        LogisticRegression(max_iter=500),
    )
    half = len(frame) // 2
    model.fit(frame.iloc[:half], y[:half])
    test = frame.iloc[half:].reset_index(drop=True)
    errors = (model.predict(test) != y[half:]).astype(np.int8)
    labels = fit_groups(frame[ADULT_COLUMNS]).labels(test[ADULT_COLUMNS])
    tops = {}
    for name, tool in TOOLS.items():
        start = time.perf_counter()
        tops[name] = tool(labels, errors)
        print(f"adult, {name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    depth = max(len(t) for t in tops.values())
    rows = [
        [i + 1, *(label(t[i]) if i < len(t) else "" for t in tops.values())] for i in range(depth)
    ]
    first = tops["raikit"][0] if tops["raikit"] else None
    ranks = ", ".join(
        f"{name}: {top.index(first) + 1 if first in top else 'not in its top 10'}"
        for name, top in tops.items()
        if name != "raikit"
    )
    overlap = ", ".join(
        f"{name}: {len(set(top) & set(tops['raikit']))} of 10"
        for name, top in tops.items()
        if name != "raikit"
    )
    return (
        f"Logistic regression, error rate {errors.mean():.3f} on {len(errors):,} held-out rows.\n\n"
        + markdown_table(["Rank", *tops], rows)
        + f"\n\nraikit's top slice ({label(first) if first else 'none'}) in the others' lists: "
        + f"{ranks}. Top-10 overlap with raikit's: {overlap}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-adult", action="store_true")
    args = parser.parse_args()
    print(preamble())
    print(speed(args.rows, args.sample, args.repeats))
    if not args.no_adult:
        print("\n" + adult_agreement())


if __name__ == "__main__":
    main()
