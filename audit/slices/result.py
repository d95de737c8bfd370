"""What slice discovery returns: the reported slices and the counts of the search."""

from __future__ import annotations

from raikit.audit.types import Finding, Frozen, Interval

__all__ = ["Slice", "SliceResult"]


class Slice(Frozen):
    """One slice worse than the rest, at the false discovery rate of the search."""

    conditions: dict[str, str]
    label: str
    size: int
    metric: Interval
    rest: Interval
    #: How much worse than the rest (slice minus rest, or rest minus slice when lower is worse).
    gap: Interval
    p_value: float
    #: The p-value adjusted for the search (Benjamini-Hochberg or -Yekutieli): reported at <= level.
    q_value: float
    #: Narrower reported slices folded into this one (not worse than the rest of it).
    folded: int


class SliceResult(Frozen):
    """Slices of the audited rows where the model does worse than on the rest."""

    metric: str
    higher_is_worse: bool
    columns: list[str]
    binning: dict[str, str]
    depth: int
    min_slice_size: int
    fdr_level: float
    fdr_method: str
    confidence_level: float
    n_rows: int
    overall: Interval
    #: Slices with at least ``min_slice_size`` rows, and those among them the support bound
    #: lets reach the level (the tested family, the ``m`` of the false discovery rate).
    n_candidates: int
    n_tested: int
    min_testable_size: int
    n_discovered: int
    n_folded: int
    slices: list[Slice]
    findings: list[Finding]

    def worst(self) -> Slice | None:
        """The reported slice whose gap's lower bound is largest, or ``None``."""
        return self.slices[0] if self.slices else None
