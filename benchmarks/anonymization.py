"""De-identification on adult: raikit's Mondrian against anonypy's, information loss and time.

Both partition the same rows of adult (``load_table("adult")``, 48,842 rows) on the same eight
quasi-identifiers (age, workclass, education, marital_status, occupation, race, sex,
native_country) until every class holds k rows, and, with ``--l``, two distinct incomes.
anonypy (``pip install 'raikit[bench]'``) generalises categories to the set of values of a
partition, as raikit does for a category without a hierarchy, and suppresses nothing; raikit
runs without suppression and with its default limit (5% of the rows).

Information loss is the normalised certainty penalty, computed here from each side's classes
and the original values, independently of raikit's own figure (printed beside it): per cell,
the class's range over the column's range (age) or its number of distinct values over the
column's (categories), 0 when the class holds one value; a suppressed row counts 1 per cell.
Every class is checked to hold k rows (and l incomes) before its loss is counted. Missing
categories are read as adult's own marker ``?``.

Usage::

    python benchmarks/anonymization.py                     # k = 5, 10, 25, 50; all rows
    python benchmarks/anonymization.py --rows 5000 --k 10 --repeats 1
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from _timing import interleave, markdown_table, paired_ratios, preamble, summary

QUASI = [
    "age",
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "race",
    "sex",
    "native_country",
]
SENSITIVE = "income_per_year"


def ncp(frame: pd.DataFrame, classes: list[np.ndarray], n_rows: int) -> float:
    """Mean NCP over ``n_rows`` x quasi-identifier cells; rows in no class count 1."""
    total = float((n_rows - sum(len(c) for c in classes)) * len(QUASI))
    for column in QUASI:
        values = frame[column].to_numpy()
        if column == "age":
            width = float(values.max() - values.min())
            total += sum(len(c) * (values[c].max() - values[c].min()) / width for c in classes)
        else:
            values = pd.factorize(values)[0]
            domain = len(np.unique(values))
            for c in classes:
                distinct = len(np.unique(values[c]))
                total += len(c) * (distinct / domain if distinct > 1 else 0.0)
    return total / (n_rows * len(QUASI))


def check(frame: pd.DataFrame, classes: list[np.ndarray], k: int, l_diversity: int | None):
    for c in classes:
        assert len(c) >= k, "a class smaller than k"
        if l_diversity:
            assert len(set(frame[SENSITIVE].to_numpy()[c])) >= l_diversity, "a class below l"


def raikit_classes(frame: pd.DataFrame, k: int, l_diversity: int | None, max_suppression: float):
    from raikit.audit.pii.mondrian import generalise

    ids = frame.assign(_row=np.arange(len(frame)))
    done = generalise(
        ids,
        QUASI,
        k,
        l_diversity=l_diversity,
        sensitive=[SENSITIVE],
        max_suppression=max_suppression,
    )
    rows = done.frame["_row"].to_numpy()
    codes = done.frame.groupby(QUASI, dropna=False, sort=False).ngroup().to_numpy()
    classes = [rows[codes == g] for g in range(codes.max() + 1)]
    return classes, done.information_loss


def anonypy_classes(frame: pd.DataFrame, k: int, l_diversity: int | None):
    from anonypy import mondrian

    typed = frame[[*QUASI, SENSITIVE]].copy()
    for column in QUASI[1:] + [SENSITIVE]:
        typed[column] = typed[column].astype("category")
    partitions = mondrian.Mondrian(typed, QUASI, SENSITIVE).partition(k, l=l_diversity or 0)
    return [np.asarray(p) for p in partitions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=0, help="First N rows (0: all 48,842).")
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 25, 50])
    parser.add_argument("--l", type=int, default=None, help="Distinct incomes per class.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from raikit.models.data import load_table

    frame = load_table("adult").frame
    if args.rows:
        frame = frame.head(args.rows)
    # adult's own marker for an unknown category, so that anonypy (whose categorical splits
    # drop NaN rows) partitions every row
    frame = frame.reset_index(drop=True).fillna({c: "?" for c in QUASI[1:]})
    print(preamble())
    print(f"{len(frame):,} rows of adult; l = {args.l or 'none'}; {args.repeats} rounds.\n")
    rows = []
    for k in args.k:
        runs = interleave(
            {
                "raikit": lambda k=k: raikit_classes(frame, k, args.l, 0.0),
                "raikit_suppress": lambda k=k: raikit_classes(frame, k, args.l, 0.05),
                "anonypy": lambda k=k: anonypy_classes(frame, k, args.l),
            },
            repeats=args.repeats,
            warmup=0,
        )
        ours, reported = runs["raikit"].values[-1]
        suppressing, reported_s = runs["raikit_suppress"].values[-1]
        theirs = runs["anonypy"].values[-1]
        for classes in (ours, suppressing, theirs):
            check(frame, classes, k, args.l)
        loss = [ncp(frame, c, len(frame)) for c in (ours, suppressing, theirs)]
        assert abs(loss[0] - reported) < 1e-9 and abs(loss[1] - reported_s) < 1e-9
        speed = paired_ratios(runs["anonypy"].seconds, runs["raikit"].seconds)
        kept = sum(len(c) for c in suppressing)
        rows.append(
            [
                k,
                f"{loss[2]:.3f} ({len(theirs):,})",
                f"{loss[0]:.3f} ({len(ours):,})",
                f"{loss[1]:.3f} ({len(suppressing):,}; {len(frame) - kept:,} rows)",
                summary(runs["anonypy"].seconds, unit=" s"),
                summary(runs["raikit"].seconds, unit=" s"),
                summary(speed, fmt="{:.1f}", unit="x"),
            ]
        )
    header = [
        "k",
        "anonypy NCP (classes)",
        "raikit NCP, no suppression",
        "raikit NCP, up to 5% suppressed",
        "anonypy time",
        "raikit time",
        "raikit speed-up",
    ]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
