"""Small value types shared by every assessment result."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

Severity = Literal["info", "warning", "critical"]


class Frozen(BaseModel):
    """Base of all result types: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Interval(Frozen):
    """A point estimate with an optional confidence interval; ``None`` when undefined."""

    value: float | None
    lower: float | None = None
    upper: float | None = None

    @field_validator("value", "lower", "upper", mode="before")
    @classmethod
    def _nan_to_none(cls, v: float | None) -> float | None:
        # JSON has no NaN: an undefined figure is stored as null and explained by a finding.
        if v is None:
            return None
        v = float(v)
        return None if math.isnan(v) else v


class Finding(Frozen):
    """Something a reader must know: a small group, an undefined metric, a missing guarantee."""

    concern: str
    severity: Severity
    code: str
    message: str
