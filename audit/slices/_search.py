"""The slice lattice, counted at once: every conjunction of up to ``depth`` conditions.

Pure numpy and scipy: integer codes of the columns in, one row per candidate slice out. A slice
of columns ``(i, j, k)`` is a cell of their mixed-radix code, so one ``np.bincount`` counts the
rows and the harm of every slice of those columns in a single pass over the rows; a row joins
the count of ``(i, j, k)`` only when its cell of ``(i, j)`` can still hold a testable slice
(the support bound below), so the lattice is pruned row by row.

Statistics (both one-sided, "worse than the rest"):

* ``kind="rate"`` (a 0/1 harm per row): Fisher's exact test of the slice against the rest, the
  hypergeometric tail ``P(X >= k)`` with the table's margins (``N`` rows, ``K`` harmed, ``n`` in
  the slice). Given its margins a slice of ``n`` rows can reach at best ``P(X >= min(n, K))``
  (all of its rows harmed): the support bound of Tarone (1990) and LAMP (Terada et al. 2013).
  It depends on the slice's size, never on its harm, so slices that cannot reach the level are
  left out of the tested family without biasing it; it falls with ``n`` up to ``K``, so a
  slice too small to be testable has no testable refinement either.
* ``kind="mean"`` (a real-valued harm, e.g. an absolute error): Welch's z statistic of the
  slice's mean against the rest's; no support bound, the minimum size alone prunes.

:func:`discover` tests every candidate and adjusts for the false discovery rate; :func:`fold`
folds a discovered slice into a broader discovered slice it only repeats.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from raikit.audit.stats import hypergeometric_sf

Kind = Literal["rate", "mean"]


@dataclass(frozen=True)
class Candidates:
    """Every slice that is testable in at least one harm column, with its counts.

    ``columns[s]`` and ``values[s]`` hold slice ``s``'s column indices and value codes
    (``-1`` past its depth); ``size`` is its rows; ``total``, ``squares`` and ``testable`` have a
    column per harm column: the sum of the harm, of the squared harm, and whether the slice is
    in that column's tested family.
    """

    columns: np.ndarray
    values: np.ndarray
    size: np.ndarray
    total: np.ndarray
    squares: np.ndarray
    testable: np.ndarray
    #: Slices of at least the minimum size, testable or not.
    n_candidates: int
    #: Per harm column, the smallest size a testable slice has.
    min_testable_size: np.ndarray


def _columns(harm: np.ndarray) -> np.ndarray:
    """The harm as a (rows, sets) array of floats."""
    harm = np.asarray(harm, dtype=np.float64)
    return harm[:, None] if harm.ndim == 1 else harm


def min_attainable_p(size: np.ndarray, n_rows: int, n_harmed: int) -> np.ndarray:
    """Smallest one-sided Fisher p-value a slice of ``size`` rows can reach (all rows harmed)."""
    size = np.asarray(size)
    return hypergeometric_sf(np.minimum(size, n_harmed), n_rows, n_harmed, size)


def _testable_sizes(n_rows: int, n_harmed: int, min_size: int, level: float) -> tuple[int, int]:
    """The range of slice sizes ``[low, high]`` whose support bound reaches ``level``.

    The bound falls with the size up to ``n_harmed`` and rises after it, so both ends are
    found by bisection; ``low > high`` when no size is testable.
    """
    peak = max(n_harmed, 1)
    if n_harmed == 0 or min_attainable_p(peak, n_rows, n_harmed) > level:
        return n_rows + 1, 0

    def first(lo: int, hi: int, ok_at_hi: bool) -> int:
        # Smallest n in [lo, hi] with (bound <= level) == ok_at_hi, bound monotone on [lo, hi].
        while lo < hi:
            mid = (lo + hi) // 2
            if (min_attainable_p(mid, n_rows, n_harmed) <= level) == ok_at_hi:
                hi = mid
            else:
                lo = mid + 1
        return lo

    low = first(1, peak, True)
    high = first(peak, n_rows, False)
    if min_attainable_p(high, n_rows, n_harmed) > level:
        high -= 1
    return max(low, min_size), high


def count_slices(
    codes: list[np.ndarray],
    harm: np.ndarray,
    *,
    depth: int,
    min_size: int,
    kind: Kind,
    level: float,
) -> Candidates:
    """Count every slice of up to ``depth`` conditions and keep the testable ones.

    Parameters
    ----------
    codes : list of numpy.ndarray of int
        Per column, each row's value code in ``[0, n_values)``.
    harm : numpy.ndarray, shape (n_rows,) or (n_rows, n_sets)
        Per row, 0/1 (``kind="rate"``) or a real number (``kind="mean"``); several columns
        are searched at once, each on its own (e.g. simulated data sets).
    depth : int
        Most conditions in a slice.
    min_size : int
        Fewest rows a slice may have.
    kind : {"rate", "mean"}
        How the harm is tested (see the module docstring).
    level : float
        The support bound's level: a slice that cannot reach it is not tested.

    Returns
    -------
    Candidates
    """
    harm = _columns(harm)
    n_rows, n_sets = harm.shape
    # A slice of every row has no rest to be compared with.
    low, high = np.full(n_sets, min_size), np.full(n_sets, n_rows - 1)
    if kind == "rate":
        for j, n_harmed in enumerate(harm.sum(axis=0)):
            low[j], high[j] = _testable_sizes(n_rows, int(round(n_harmed)), min_size, level)
    lowest = int(low.min())
    widths = [int(c.max()) + 1 if len(c) else 1 for c in codes]
    found: list[tuple] = []
    n_candidates = 0

    def sums(cell: np.ndarray, weights: np.ndarray, n_cells: int) -> np.ndarray:
        # One bincount for every harm column: cell-major codes of (cell, column).
        code = (cell[:, None] * n_sets + np.arange(n_sets)).reshape(-1)
        flat = np.bincount(code, weights=weights.reshape(-1), minlength=n_cells * n_sets)
        return flat.reshape(n_cells, n_sets)

    def visit(combo: tuple[int, ...], rows: np.ndarray, parent_cell: np.ndarray) -> None:
        # Depth first, so only one chain of row subsets is held at a time.
        nonlocal n_candidates
        for last in range(combo[-1] + 1 if combo else 0, len(codes)):
            child = (*combo, last)
            cell = parent_cell * widths[last] + codes[last][rows]
            n_cells = int(np.prod([widths[c] for c in child], dtype=np.float64))
            size = np.bincount(cell, minlength=n_cells)
            big = size >= lowest
            n_candidates += int((size >= min_size).sum())
            if not big.any():
                continue
            testable = (size[:, None] >= low) & (size[:, None] <= high)
            chosen = np.flatnonzero(testable.any(axis=1))
            if len(chosen):
                weights = harm[rows]
                total = sums(cell, weights, n_cells)[chosen]
                squares = sums(cell, weights**2, n_cells)[chosen] if kind == "mean" else total
                found.append((child, chosen, size[chosen], total, squares, testable[chosen]))
            if len(child) < depth:
                # A row whose cell is below the support bound cannot make a testable refinement.
                keep = big[cell]
                if keep.all():
                    visit(child, rows, cell)
                else:
                    visit(child, rows[keep], cell[keep])

    visit((), np.arange(n_rows), np.zeros(n_rows, dtype=np.int64))
    return _assemble(found, widths, depth, n_sets, n_candidates, low)


def _assemble(found, widths, depth: int, n_sets: int, n_candidates: int, low) -> Candidates:
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("columns", "values", "size", "total")}
    parts.update(squares=[], testable=[])
    for combo, cells, size, total, squares, testable in found:
        columns = np.full((len(cells), depth), -1, dtype=np.int64)
        values = columns.copy()
        columns[:, : len(combo)] = combo
        values[:, : len(combo)] = np.column_stack(
            np.unravel_index(cells, [widths[c] for c in combo])
        )
        for name, part in zip(
            parts, (columns, values, size, total, squares, testable), strict=True
        ):
            parts[name].append(part)
    empty = {
        "columns": np.zeros((0, depth), dtype=np.int64),
        "values": np.zeros((0, depth), dtype=np.int64),
        "size": np.zeros(0, dtype=np.int64),
        "total": np.zeros((0, n_sets)),
        "squares": np.zeros((0, n_sets)),
        "testable": np.zeros((0, n_sets), dtype=bool),
    }
    arrays = {k: np.concatenate(v) if v else empty[k] for k, v in parts.items()}
    return Candidates(**arrays, n_candidates=n_candidates, min_testable_size=low)


def discover(
    candidates: Candidates, harm: np.ndarray, kind: Kind, level: float, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """One-sided p-values of every candidate and their false-discovery-rate adjustment.

    Both have the shape of ``candidates.total``, NaN where a slice is not in a column's tested
    family; a slice is discovered in a column where its adjusted value is ``<= level``.
    """
    from scipy.stats import false_discovery_control

    harm = _columns(harm)
    size = candidates.size[:, None]
    p = one_sided_p(
        size,
        candidates.total,
        candidates.squares,
        len(harm),
        harm.sum(axis=0),
        (harm**2).sum(axis=0),
        kind,
    )
    p = np.where(candidates.testable, p, np.nan)
    q = np.full_like(p, np.nan)
    for j in range(p.shape[1]):
        tested = candidates.testable[:, j]
        if tested.any():
            q[tested, j] = false_discovery_control(p[tested, j], method=method)
    return p, q


def one_sided_p(
    size: np.ndarray,
    total: np.ndarray,
    squares: np.ndarray,
    n_rows: np.ndarray,
    n_total: np.ndarray,
    n_squares: np.ndarray,
    kind: Kind,
) -> np.ndarray:
    """p-value of "the slice's harm is higher than the rest's", within ``n_rows`` rows.

    ``size``/``total``/``squares`` describe the slice, ``n_rows``/``n_total``/``n_squares`` the
    rows it is part of (all rows, or a more general slice when folding).
    """
    from scipy.stats import norm

    if kind == "rate":
        return hypergeometric_sf(total, n_rows, n_total, size)
    mean, variance = _mean_variance(size, total, squares)
    rest_mean, rest_variance = _mean_variance(n_rows - size, n_total - total, n_squares - squares)
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.sqrt(variance / size + rest_variance / (n_rows - size))
        z = (mean - rest_mean) / error
    # No spread at all: the means differ or they do not.
    z = np.where(error > 0, z, np.where(mean > rest_mean, np.inf, -np.inf))
    return norm.sf(z)


def _mean_variance(n, total, squares) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        variance = np.maximum(squares - n * mean**2, 0.0) / np.maximum(n - 1, 1)
    return mean, variance


def mean_interval(n, total, squares, z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of the harm with a normal interval ``mean -/+ z * sd / sqrt(n)``."""
    mean, variance = _mean_variance(n, total, squares)
    half = z * np.sqrt(variance / np.asarray(n, dtype=np.float64))
    return mean, mean - half, mean + half


def mean_difference_interval(
    n_a, total_a, squares_a, n_b, total_b, squares_b, z: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of two means ``a - b`` with Welch's normal interval."""
    mean_a, variance_a = _mean_variance(n_a, total_a, squares_a)
    mean_b, variance_b = _mean_variance(n_b, total_b, squares_b)
    half = z * np.sqrt(variance_a / np.asarray(n_a, float) + variance_b / np.asarray(n_b, float))
    difference = mean_a - mean_b
    return difference, difference - half, difference + half


def fold(
    keys: list[tuple], order: np.ndarray, size, harmed, square, kind, level: float
) -> tuple[set[int], dict[int, int]]:
    """Which discovered slices are kept, and how many narrower ones each absorbed.

    Most general first, a slice is folded into a kept slice it refines unless, within that
    slice, it is worse than the rest of it: the same one-sided test, at ``level`` divided by the
    number of discovered slices refining it (Bonferroni, or chance alone keeps a few of many).

    ``keys[i]`` is discovered slice ``i``'s conditions, ``((column, value), ...)`` in column
    order; ``order`` ranks them (worst first); ``size``, ``harmed`` and ``square`` are their
    rows, harm and squared harm.
    """
    index = {key: i for i, key in enumerate(keys)}
    ancestors = [
        [
            index[sub]
            for length in range(1, len(key))
            for sub in itertools.combinations(key, length)
            if sub in index
        ]
        for key in keys
    ]
    pairs = np.asarray([(i, a) for i, found in enumerate(ancestors) for a in found], dtype=int)
    pairs = pairs.reshape(-1, 2)
    refinements = np.bincount(pairs[:, 1], minlength=len(keys)).astype(np.float64)
    # Every (slice, ancestor) test at once; the loop below only reads them.
    child, parent = pairs[:, 0], pairs[:, 1]
    p = one_sided_p(
        size[child],
        harmed[child],
        square[child],
        size[parent],
        harmed[parent],
        square[parent],
        kind,
    )
    folds = {
        (int(i), int(a)): bool(value > level / refinements[a])
        for i, a, value in zip(child, parent, p, strict=True)
    }
    kept: set[int] = set()
    folded: dict[int, int] = {}
    rank = {int(i): r for r, i in enumerate(order)}
    for i in sorted(range(len(keys)), key=lambda i: (len(keys[i]), rank[i])):
        into = next((a for a in ancestors[i] if a in kept and folds[i, a]), None)
        if into is None:
            kept.add(i)
        else:
            folded[into] = folded.get(into, 0) + 1
    return kept, folded
