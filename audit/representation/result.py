"""Result types of the representation check: plain, frozen, serialisable."""

from __future__ import annotations

from typing import Literal

from raikit.audit.types import Finding, Frozen, Interval

__all__ = [
    "AttributeRepresentation",
    "FitTest",
    "GroupMissing",
    "GroupShare",
    "MissingValues",
    "RepresentationResult",
]


class FitTest(Frozen):
    """Goodness of fit of one column's group counts to the reference shares."""

    method: Literal["chi_square", "exact_multinomial"]
    #: Pearson's chi-square statistic; ``None`` for the exact test.
    statistic: float | None
    degrees_of_freedom: int
    p_value: float
    #: Draws of the Monte Carlo estimate of the exact test's p-value.
    n_draws: int | None = None
    #: Why this test was chosen.
    reason: str


class GroupShare(Frozen):
    """One group: its rows, its share of the data and, against a reference, its ratio."""

    label: str
    count: int
    #: Share of the rows with a known value, with its Wilson interval.
    share: Interval
    reference_share: float | None = None
    #: ``share / reference_share``, with the share's interval divided likewise.
    ratio: Interval | None = None
    #: Share of the group's rows with the positive label (Wilson interval).
    base_rate: Interval | None = None
    small: bool


class AttributeRepresentation(Frozen):
    """Who is in the data, by one sensitive column or by the intersection of all of them."""

    attribute: str
    columns: list[str]
    binning: str | None
    #: Rows with a known value in every column of the attribute: the shares' denominator.
    n_known: int
    #: Rows with a missing value in a column of the attribute, left out of the shares.
    n_missing: int
    groups: list[GroupShare]
    #: Goodness of fit to the reference (single columns with reference shares only).
    fit: FitTest | None = None
    #: Combinations of the columns' groups with no row (intersections only); at most
    #: :data:`raikit.audit.representation.MAX_LISTED` listed, ``n_empty`` counts them all.
    empty: list[str] = []
    n_empty: int = 0


class GroupMissing(Frozen):
    """Missing values of one column among one group's rows."""

    label: str
    rows: int
    missing: int
    share: Interval


class MissingValues(Frozen):
    """Missing values of a column, by the groups of one sensitive column (data quality)."""

    column: str
    attribute: str
    groups: list[GroupMissing]


class RepresentationResult(Frozen):
    """Representation of the groups of every sensitive column in the data."""

    population: str
    source: str
    n_rows: int
    label: str | None
    positive_label: str | None
    min_group_size: int
    confidence_level: float
    min_representation_ratio: float
    attributes: list[AttributeRepresentation]
    #: Only columns with a missing value somewhere.
    missing: list[MissingValues]
    findings: list[Finding]

    def ratios(self) -> list[tuple[str, GroupShare]]:
        """``(subject, group)`` of every group compared with the reference."""
        return [
            (f"{a.attribute}={g.label}", g)
            for a in self.attributes
            for g in a.groups
            if g.ratio is not None
        ]
