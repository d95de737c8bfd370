"""Re-identification risk of a table: k-anonymity and l-diversity over quasi-identifiers.

Rows that share every quasi-identifier value form an equivalence class. The table is
k-anonymous for the smallest class size k: a person known to be in the data, whose
quasi-identifiers an attacker knows, hides among at least k rows. A class is l-diverse in a
sensitive column when it holds at least l distinct values of it (distinct l-diversity);
without it, knowing the class reveals the sensitive value.

The worst classes are described by their size and how rare their values are, never by the
values themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from raikit.audit.types import Finding, Frozen
from raikit.models.errors import ConfigError

SIZE_BUCKETS = ((1, 1), (2, 2), (3, 4), (5, 9), (10, 19), (20, 49), (50, None))


class ClassSizeBucket(Frozen):
    """How many equivalence classes, and rows in them, have a size in ``[low, high]``."""

    label: str
    classes: int
    rows: int


class WorstClass(Frozen):
    """One of the smallest equivalence classes, described without its values."""

    size: int
    rarest_column: str
    rarest_value_rows: int
    l_diversity: dict[str, int]
    description: str


class ReidentificationResult(Frozen):
    """k-anonymity and l-diversity of a table over its quasi-identifiers."""

    quasi_identifiers: list[str]
    quasi_identifiers_source: str
    sensitive: list[str]
    n_rows: int
    n_classes: int
    k_anonymity: int
    unique_rows: int
    unique_share: float
    l_diversity: dict[str, int]
    class_sizes: list[ClassSizeBucket]
    worst_classes: list[WorstClass]
    findings: list[Finding] = []


def _bucket_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+"
    return str(low) if low == high else f"{low}-{high}"


def assess_reidentification(
    frame: pd.DataFrame,
    quasi_identifiers: list[str],
    sensitive: list[str] | None = None,
    *,
    source: str = "user",
    n_worst: int = 5,
    k_threshold: int = 5,
) -> ReidentificationResult:
    """Measure k-anonymity, l-diversity and uniqueness over ``quasi_identifiers``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table. Missing values form their own group.
    quasi_identifiers : list of str
        Columns an attacker could know from elsewhere (age, sex, ZIP code, ...).
    sensitive : list of str, optional
        Columns whose values must not be inferable from the class (l-diversity).
    source : str
        How the quasi-identifiers were chosen (``"user"`` or ``"auto"``), recorded.
    n_worst : int
        How many of the smallest classes to describe.
    k_threshold : int
        Classes smaller than this are a warning (a class of one is critical).

    Returns
    -------
    ReidentificationResult

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"age": [30, 30, 41], "sex": ["F", "F", "M"]})
    >>> assess_reidentification(frame, ["age", "sex"]).k_anonymity
    1
    """
    sensitive = list(sensitive or [])
    missing = [c for c in quasi_identifiers + sensitive if c not in frame.columns]
    if missing:
        raise ConfigError(f"column(s) {missing} not found; the table has {list(frame.columns)}")
    if not quasi_identifiers:
        raise ConfigError("at least one quasi-identifier column is needed")
    keys = frame[quasi_identifiers].astype("string").fillna("\x00<missing>")
    codes = {c: pd.factorize(keys[c])[0] for c in quasi_identifiers}
    # One id per distinct combination (NumPy 2.0.0 returns the inverse as a column: flattened).
    _, class_id = np.unique(np.column_stack(list(codes.values())), axis=0, return_inverse=True)
    class_id = class_id.reshape(-1)
    sizes = pd.Series(class_id).value_counts()
    size_of_row = sizes.reindex(class_id).to_numpy()
    n_rows = len(frame)
    k = int(sizes.min()) if len(sizes) else 0
    unique_rows = int((sizes == 1).sum())
    l_by_class: dict[str, pd.Series] = {}
    for column in sensitive:
        values = frame[column].astype("string").fillna("\x00<missing>")
        l_by_class[column] = values.groupby(class_id).nunique()
    buckets = []
    for low, high in SIZE_BUCKETS:
        chosen = sizes[(sizes >= low) & ((sizes <= high) if high is not None else True)]
        buckets.append(
            ClassSizeBucket(
                label=_bucket_label(low, high), classes=len(chosen), rows=int(chosen.sum())
            )
        )
    value_rows = {c: np.bincount(codes[c])[codes[c]] for c in quasi_identifiers}
    first_row = pd.Series(range(n_rows)).groupby(class_id).min()
    ranked = pd.DataFrame({"size": sizes, "first_row": first_row})
    order = ranked.sort_values(["size", "first_row"]).index[:n_worst]
    worst = []
    for cls in order:
        row = int(first_row[cls])
        rarest = min(quasi_identifiers, key=lambda c: (value_rows[c][row], c))
        diversity = {c: int(l_by_class[c][cls]) for c in sensitive}
        size = int(sizes[cls])
        worst.append(
            WorstClass(
                size=size,
                rarest_column=rarest,
                rarest_value_rows=int(value_rows[rarest][row]),
                l_diversity=diversity,
                description=f"{size} row{'s' if size != 1 else ''} share this combination of "
                f"{len(quasi_identifiers)} quasi-identifiers; its rarest value is in "
                f"'{rarest}' ({int(value_rows[rarest][row])} rows have it)",
            )
        )
    findings = _findings(k, unique_rows, n_rows, l_by_class, k_threshold, size_of_row)
    return ReidentificationResult(
        quasi_identifiers=list(quasi_identifiers),
        quasi_identifiers_source=source,
        sensitive=sensitive,
        n_rows=n_rows,
        n_classes=len(sizes),
        k_anonymity=k,
        unique_rows=unique_rows,
        unique_share=unique_rows / n_rows if n_rows else 0.0,
        l_diversity={c: int(s.min()) if len(s) else 0 for c, s in l_by_class.items()},
        class_sizes=buckets,
        worst_classes=worst,
        findings=findings,
    )


def _findings(
    k: int,
    unique_rows: int,
    n_rows: int,
    l_by_class: dict[str, pd.Series],
    k_threshold: int,
    size_of_row,
) -> list[Finding]:
    findings = []
    if k < k_threshold:
        at_risk = int((size_of_row < k_threshold).sum())
        findings.append(
            Finding(
                concern="privacy",
                severity="critical" if k == 1 else "warning",
                code="low_k_anonymity",
                message=f"the table is only {k}-anonymous on its quasi-identifiers: "
                f"{unique_rows:,} row(s) are unique and {at_risk:,} of {n_rows:,} sit in "
                f"classes smaller than {k_threshold}",
            )
        )
    for column, per_class in l_by_class.items():
        if len(per_class) and int(per_class.min()) < 2:
            exposed = int((per_class < 2).sum())
            findings.append(
                Finding(
                    concern="privacy",
                    severity="warning",
                    code="low_l_diversity",
                    message=f"{exposed:,} equivalence class(es) hold a single value of "
                    f"'{column}': their quasi-identifiers reveal it",
                )
            )
    return findings
