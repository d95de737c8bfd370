"""k-anonymity (and l-diversity) by generalisation: Mondrian multidimensional partitioning.

LeFevre, DeWitt and Ramakrishnan (2006), "Mondrian multidimensional k-anonymity": the rows are
split in two, again and again, on the quasi-identifier whose values cover most of its domain,
for as long as both halves keep at least k rows (and l distinct values of each sensitive
column). Each final partition becomes one equivalence class: its quasi-identifiers are replaced
by a value covering the whole partition. How a column is generalised depends on what it holds:

- numbers: the range ``[30, 39]``;
- dates (datetime columns or ISO 8601 text): the month ``2024-03``, the year ``2024``, or a
  range of years ``[2019, 2021]``: never finer than the month;
- postcodes (a column named like ``zip`` or ``postcode``): the longest common prefix, ``123*``;
- categories with a hierarchy given by the user: the lowest node covering the partition;
- other categories: the set of values, ``{Divorced, Widowed}``.

Missing values stay missing in a class that holds only them; a class that mixes them with
values shows ``*`` there. When the best split on a column leaves a few outlying rows that
cannot form a class (capital gains of 99,999 among zeros), those rows are suppressed instead,
within ``max_suppression`` of the table, if that narrows the others more than it costs.

Information loss is the normalised certainty penalty (Xu et al. 2006): per cell, the width
of its range over the column's range, or the number of values its category covers over the
column's number of distinct values; 0 for a value kept as it is, 1 for a suppressed cell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import RootModel

from raikit.audit.pii.reidentification import ReidentificationResult
from raikit.audit.types import Finding, Frozen
from raikit.models.errors import ConfigError, DataError, close_matches_hint

POSTCODE_NAME = re.compile(r"(^|_)(zip\w*|post\w*code|postal\w*)($|_)", re.IGNORECASE)
ANY = "*"
_MISSING = "\x00<missing>"

__all__ = [
    "DeidentificationResult",
    "Generalised",
    "check_target",
    "generalise",
    "load_hierarchies",
]


class DeidentificationResult(Frozen):
    """What generalisation reached: the target, k and l after, rows suppressed, loss."""

    method: str
    target_k: int
    target_l: int | None
    max_suppression: float
    quasi_identifiers: list[str]
    generalisation: dict[str, str]
    n_rows: int
    rows_suppressed: int
    information_loss: float
    information_loss_by_column: dict[str, float]
    after: ReidentificationResult
    findings: list[Finding] = []


class _Node(RootModel[dict[str, "_Node | list[str | int | float]"]]):
    """A category hierarchy: a node's name maps to its children (nodes or a list of values)."""


class Hierarchies(RootModel[dict[str, _Node]]):
    """``hierarchies.yaml``: column name to its tree, e.g. ``education: {School: [9th, ...]}``."""


def load_hierarchies(path: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    """Read a hierarchy YAML file: for each column, each value's path of node names from the top.

    Examples
    --------
    A file holding ``education: {School: [9th, 10th], Higher: {Graduate: [Masters]}}`` gives
    ``{"education": {"9th": ("School", "9th"), "10th": ("School", "10th"),
    "Masters": ("Higher", "Graduate", "Masters")}}``.
    """
    from raikit.audit._yaml import load_yaml_model

    document = load_yaml_model(Path(path), Hierarchies, "hierarchy")
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for column, tree in document.root.items():
        paths: dict[str, tuple[str, ...]] = {}
        stack: list[tuple[tuple[str, ...], _Node | list]] = [((), tree)]
        while stack:
            above, node = stack.pop()
            if isinstance(node, list):
                for value in node:
                    if str(value) in paths:
                        raise ConfigError(
                            f"hierarchy file '{path}': column '{column}' lists a value twice"
                        )
                    paths[str(value)] = (*above, str(value))
            else:
                stack.extend(((*above, name), child) for name, child in node.root.items())
        out[str(column)] = paths
    return out


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass
class _Range:
    """A numeric or date quasi-identifier: floats (dates as month numbers), NaN when missing."""

    values: np.ndarray
    months: bool

    def __post_init__(self) -> None:
        present = self.values[~np.isnan(self.values)]
        self.width = float(present.max() - present.min()) if len(present) else 0.0

    def span(self, rows: np.ndarray) -> float:
        v = self.values[rows]
        present = ~np.isnan(v)
        if not present.all():
            return 1.0 if present.any() else 0.0
        return float(v.max() - v.min()) / self.width if self.width else 0.0

    def split(self, rows: np.ndarray) -> np.ndarray | None:
        v = self.values[rows]
        present = ~np.isnan(v)
        if not present.all():  # missing values apart first
            return present if present.any() else None
        median = np.median(v)
        left = v < median if (v < median).any() else v <= median
        return None if left.all() else left

    def label(self, rows: np.ndarray) -> tuple[object, float]:
        v = self.values[rows]
        present = ~np.isnan(v)
        if not present.any():
            return np.nan, 0.0
        if not present.all():
            return ANY, 1.0
        low, high = float(v.min()), float(v.max())
        if not self.months:
            if low == high:
                return _number(low), 0.0
            return f"[{_number(low)}, {_number(high)}]", (high - low) / self.width
        (y0, m0), (y1, _) = divmod(int(low), 12), divmod(int(high), 12)
        if low == high:
            return f"{y0:04d}-{m0 + 1:02d}", 0.0
        covered = (y1 - y0 + 1) * 12 - 1  # months from the first January to the last December
        text = f"{y0:04d}" if y0 == y1 else f"[{y0:04d}, {y1:04d}]"
        return text, min(1.0, covered / self.width)


@dataclass
class _Tree:
    """A categorical quasi-identifier: each distinct value's path of node ids from the top.

    ``paths[c]`` runs from the root (node 0) to value ``c``'s leaf, padded with the leaf;
    ``listed`` columns (no hierarchy) name a partition by its set of values, the others by the
    lowest node covering it.
    """

    codes: np.ndarray
    paths: np.ndarray
    node_labels: list[str]
    leaves_under: np.ndarray
    listed: bool

    def _present(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """The values present (codes), their row counts, and the depth where they part."""
        counts = np.bincount(self.codes[rows], minlength=len(self.paths))
        present = np.flatnonzero(counts)
        same = (self.paths[present] == self.paths[present[0]]).all(axis=0)
        return present, counts[present], (len(same) if same.all() else int(np.argmin(same)))

    def _share(self, present: np.ndarray, level: int) -> float:
        if level == self.paths.shape[1]:
            return 0.0
        covered = (
            len(present) if self.listed else self.leaves_under[self.paths[present[0], level - 1]]
        )
        return float(covered) / len(self.paths)

    def span(self, rows: np.ndarray) -> float:
        present, _, level = self._present(rows)
        return self._share(present, level)

    def split(self, rows: np.ndarray) -> np.ndarray | None:
        present, counts, level = self._present(rows)
        if level == self.paths.shape[1]:
            return None
        # The children present under the lowest common node, cut where the rows halve.
        child = self.paths[present, level]
        ids = np.unique(child)
        per_child = np.array([counts[child == i].sum() for i in ids])
        cut = int(np.argmin(np.abs(np.cumsum(per_child)[:-1] - len(rows) / 2)))
        on_left = np.zeros(len(self.paths), dtype=bool)
        on_left[present[child <= ids[cut]]] = True
        return on_left[self.codes[rows]]

    def label(self, rows: np.ndarray) -> tuple[object, float]:
        present, _, level = self._present(rows)
        share = self._share(present, level)
        if level == self.paths.shape[1]:
            text = self.node_labels[self.paths[present[0], -1]]
            return (np.nan if text == _MISSING else text), 0.0
        if self.listed:
            names = {self.node_labels[self.paths[c, -1]] for c in present}
            shown = sorted(names - {_MISSING}) + (["missing"] if _MISSING in names else [])
            return "{" + ", ".join(shown) + "}", share
        return self.node_labels[self.paths[present[0], level - 1]], share


def _tree(values: list[str], path_of) -> _Tree:
    """Build a tree column; ``path_of(value)`` gives the node labels between root and leaf."""
    distinct, codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    ids: dict[tuple[str, ...], int] = {(): 0}
    labels = [ANY]
    raw_paths = []
    for value in distinct:
        above = () if value == _MISSING or path_of is None else tuple(path_of(value))
        path = [0]
        for depth in range(1, len(above) + 1):
            key = above[:depth]
            if key not in ids:
                ids[key] = len(labels)
                labels.append(above[depth - 1])
            path.append(ids[key])
        leaf = (*above, "\x01", value)
        ids[leaf] = len(labels)
        labels.append(value)
        raw_paths.append([*path, ids[leaf]])
    depth = max(len(p) for p in raw_paths)
    paths = np.array([p + [p[-1]] * (depth - len(p)) for p in raw_paths], dtype=np.int64)
    leaves_under = np.zeros(len(labels), dtype=np.int64)
    for path in raw_paths:
        leaves_under[path] += 1
    return _Tree(codes.astype(np.int64), paths, labels, leaves_under, listed=path_of is None)


def _encode(
    series: pd.Series, hierarchy: Mapping[str, tuple[str, ...]] | None
) -> tuple[_Range | _Tree, str, int]:
    """Encode one column; also say how it is generalised and how many values a hierarchy lacks."""
    text = series.astype("string").fillna(_MISSING).astype(object)
    if hierarchy is not None:
        lacking = int((~series.dropna().astype(str).isin(list(hierarchy))).sum())
        tree = _tree(list(text), lambda v: hierarchy.get(v, (v,))[:-1])
        return tree, "hierarchy", lacking
    if POSTCODE_NAME.search(str(series.name)):
        if pd.api.types.is_integer_dtype(series) or pd.api.types.is_float_dtype(series):
            digits = series.dropna().astype("int64").astype(str)
            width = int(digits.str.len().max()) if len(digits) else 0
            text = series.map(lambda v: _MISSING if pd.isna(v) else str(int(v)).zfill(width))
        prefixes = lambda v: [v[:i] + "*" for i in range(1, len(v))]  # noqa: E731
        return _tree(list(text), prefixes), "postcode prefix", 0
    dates = series if pd.api.types.is_datetime64_any_dtype(series) else _iso_dates(series)
    if dates is not None:
        dates = pd.to_datetime(dates, utc=True).dt.tz_localize(None)
        months = (dates.dt.year * 12 + dates.dt.month - 1).astype("float64").to_numpy()
        return _Range(months, months=True), "month or year", 0
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return _Range(series.astype("float64").to_numpy(), months=False), "numeric range", 0
    return _tree(list(text), None), "set of values", 0


def _iso_dates(series: pd.Series) -> pd.Series | None:
    values = series.dropna()
    if not len(values) or not re.match(r"\d{4}-\d{2}-\d{2}", str(values.iloc[0])):
        return None
    if not values.map(lambda v: isinstance(v, str)).all():
        return None
    if not values.astype(str).str.match(r"\d{4}-\d{2}-\d{2}").all():
        return None
    parsed = pd.to_datetime(series, format="ISO8601", errors="coerce", utc=True)
    return parsed if parsed[series.notna()].notna().all() else None


@dataclass
class Generalised:
    """A generalised table (kept rows in input order) and what it cost."""

    frame: pd.DataFrame
    rows_suppressed: int
    generalisation: dict[str, str]
    information_loss: float
    information_loss_by_column: dict[str, float]
    findings: list[Finding]


def check_target(
    frame: pd.DataFrame, k: int, *, l_diversity: int | None = None, sensitive: list[str] = ()
) -> None:
    """Refuse a target that even the whole table, as one class, misses: no suppression helps.

    Raises
    ------
    DataError
        Fewer than ``k`` rows, or a sensitive column with fewer than ``l_diversity`` distinct
        values (missing counts as one).
    """
    if len(frame) < k:
        raise DataError(
            f"cannot reach k={k}: the table has {len(frame):,} row(s), fewer than one class needs"
        )
    for column in sensitive:
        if column not in frame.columns:
            hint = close_matches_hint(column, frame.columns)
            raise ConfigError(f"sensitive column '{column}' not found{hint}")
        distinct = frame[column].nunique(dropna=False)
        if l_diversity is not None and distinct < l_diversity:
            raise DataError(
                f"cannot reach l={l_diversity}: column '{column}' holds {distinct} distinct "
                "value(s) in the whole table, and suppressing rows cannot add any"
            )


def generalise(
    frame: pd.DataFrame,
    quasi_identifiers: list[str],
    k: int,
    *,
    l_diversity: int | None = None,
    sensitive: list[str] | None = None,
    max_suppression: float = 0.05,
    hierarchies: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None,
    found: Mapping[str, list[tuple[str, ...]]] | None = None,
) -> Generalised:
    """Generalise ``quasi_identifiers`` with Mondrian until every class has ``k`` rows.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table (not modified).
    quasi_identifiers : list of str
        The columns to generalise.
    k : int
        Rows every class must hold.
    l_diversity : int, optional
        Distinct values of each ``sensitive`` column every class must hold (missing is a value).
    sensitive : list of str, optional
        The columns for ``l_diversity``; copied as they are.
    max_suppression : float
        Share of the rows that may be suppressed as outliers.
    hierarchies : mapping, optional
        Column to each value's path from the top, from :func:`load_hierarchies`.
    found : mapping, optional
        Column to the personal data found in each row: a class whose value still shows one
        of them (a postcode kept whole) shows ``*`` instead.

    Returns
    -------
    Generalised

    Raises
    ------
    DataError
        When the whole table, as one class, does not meet ``k`` and ``l_diversity``.

    Examples
    --------
    >>> frame = pd.DataFrame({"age": [30, 31, 45, 47], "sex": ["F", "M", "F", "M"]})
    >>> generalise(frame, ["age"], k=2).frame["age"].tolist()
    ['[30, 31]', '[30, 31]', '[45, 47]', '[45, 47]']
    """
    sensitive = list(sensitive or [])
    hierarchies = hierarchies or {}
    if not quasi_identifiers:
        raise ConfigError("at least one quasi-identifier column is needed")
    for column in quasi_identifiers:
        if column not in frame.columns:
            hint = close_matches_hint(column, frame.columns)
            raise ConfigError(f"quasi-identifier column '{column}' not found{hint}")
    n = len(frame)
    encoded, findings, how = [], [], {}
    for column in quasi_identifiers:
        col, how[column], lacking = _encode(frame[column], hierarchies.get(column))
        encoded.append(col)
        if lacking:
            findings.append(
                Finding(
                    concern="privacy",
                    severity="warning",
                    code="hierarchy_incomplete",
                    message=f"{lacking:,} value(s) of '{column}' are not in its hierarchy: "
                    "they generalise straight to '*'",
                )
            )
    check_target(frame, k, l_diversity=l_diversity, sensitive=sensitive)
    codes = [pd.factorize(frame[c].astype("string").fillna(_MISSING))[0] for c in sensitive]

    def valid(rows: np.ndarray) -> bool:
        return len(rows) >= k and all(
            np.count_nonzero(np.bincount(s[rows])) >= (l_diversity or 1) for s in codes
        )

    budget = int(max_suppression * n)
    pending, final, dropped = [np.arange(n)], [], []
    while pending:
        rows = pending.pop(0)  # widest partitions first: outliers there save the most
        halves, outliers = _cut(rows, encoded, valid, budget)
        if outliers is not None:
            dropped.append(outliers)
            budget -= len(outliers)
        if halves:
            pending.extend(halves)
        else:
            final.append(rows)

    values = {c: np.empty(n, dtype=object) for c in quasi_identifiers}
    loss = {c: np.ones(n) for c in quasi_identifiers}
    for rows in final:
        for column, col in zip(quasi_identifiers, encoded, strict=True):
            shown, penalty = col.label(rows)
            values[column][rows] = shown
            loss[column][rows] = penalty
    kept = np.sort(np.concatenate(final))
    if len(kept) < n:
        findings.append(
            Finding(
                concern="privacy",
                severity="info",
                code="rows_suppressed",
                message=f"{n - len(kept):,} outlying row(s) of {n:,} were suppressed: keeping "
                "them would have widened the values of many more rows",
            )
        )
    for column, spans in (found or {}).items():
        if column in values:
            _hide_found(values[column], loss[column], kept, spans)
    out = frame.iloc[kept].reset_index(drop=True)
    for column in quasi_identifiers:
        out[column] = pd.Series(values[column][kept], dtype=object)
    by_column = {c: float(loss[c].mean()) if n else 0.0 for c in quasi_identifiers}
    return Generalised(
        frame=out,
        rows_suppressed=n - len(kept),
        generalisation=how,
        information_loss=float(np.mean(list(by_column.values()))),
        information_loss_by_column=by_column,
        findings=findings,
    )


def _cut(rows, encoded, valid, budget) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Split ``rows`` in two valid halves on the widest column that allows it; failing that,
    drop a small outlying half if it narrows the other half by more NCP than it costs."""
    spans = np.array([col.span(rows) for col in encoded])
    fallback: tuple[list[np.ndarray], np.ndarray | None] = ([], None)
    for j in np.argsort(-spans, kind="stable"):
        if spans[j] == 0:
            break
        left = encoded[j].split(rows)
        if left is None:
            continue
        halves = [rows[left], rows[~left]]
        ok = [valid(h) for h in halves]
        if all(ok):
            return halves, None
        if fallback[1] is None and any(ok):
            big, small = halves if ok[0] else halves[::-1]
            narrowed = len(big) * (spans[j] - encoded[j].span(big))
            if len(small) <= budget and narrowed > len(small) * len(encoded):
                fallback = ([big], small)
    return fallback


def _hide_found(shown: np.ndarray, loss: np.ndarray, kept: np.ndarray, spans) -> None:
    """Replace every value that still contains a piece of personal data found in its rows.

    The decision is per shown value, never per row, so classes only merge and stay k-anonymous.
    """
    flagged = {
        shown[row]
        for row in kept
        if spans[row] and isinstance(shown[row], str) and any(s in shown[row] for s in spans[row])
    }
    hit = pd.Series(shown).isin(flagged).to_numpy()
    shown[hit] = ANY
    loss[hit] = 1.0
