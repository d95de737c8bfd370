"""Reference shares: who the population the data should represent is, as a small YAML file.

::

    population: US resident population, 1 April 1990
    source: U.S. Census Bureau, 1990 Census of Population ...
    columns:
      sex: {Female: 0.5125, Male: 0.4875}

Each column's shares must sum to 1 (within :data:`SUM_TOLERANCE`, for rounded published
figures) and are then scaled to sum to exactly 1. Whether the columns and groups match the data
is checked against the data (:func:`check_reference`), with errors that name the group.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import AfterValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from raikit.audit._yaml import load_yaml_model
from raikit.audit.types import Frozen
from raikit.models.errors import ConfigError, close_matches_hint
from raikit.models.schema import label_text

if TYPE_CHECKING:
    from raikit.audit.groups import SensitiveAttribute

#: How far a column's shares may sum from 1: published percentages are rounded.
SUM_TOLERANCE = 0.01


def _sum_to_one(shares: dict[str, float]) -> dict[str, float]:
    total = sum(shares.values())
    if abs(total - 1) > SUM_TOLERANCE:
        raise PydanticCustomError(
            "shares_sum",
            "the shares sum to {total}, not 1 (within {tolerance}); give every group of the "
            "population its share",
            {"total": f"{total:.4g}", "tolerance": f"{SUM_TOLERANCE:g}"},
        )
    return {group: share / total for group, share in shares.items()}


#: One column's shares: each in (0, 1], summing to 1 (then scaled to exactly 1).
Shares = Annotated[
    dict[str, Annotated[float, Field(gt=0, le=1)]],
    Field(min_length=1),
    AfterValidator(_sum_to_one),
]


class Reference(Frozen):
    """The content of a reference file: the population, its source and each column's shares."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    population: str = Field(min_length=1)
    source: str = Field(min_length=1)
    columns: dict[str, Shares] = Field(min_length=1)

    @field_validator("columns", mode="before")
    @classmethod
    def _labels_as_text(cls, columns: Any) -> Any:
        # YAML reads `1:` or `yes:` as numbers or booleans; groups are named as the data's are.
        if not isinstance(columns, dict):
            return columns
        return {
            str(column): {label_text(g): s for g, s in shares.items()}
            if isinstance(shares, dict)
            else shares
            for column, shares in columns.items()
        }


def load_reference(path: Path) -> Reference:
    """Read and validate a reference file; errors name the file, line and field.

    Raises
    ------
    ConfigError
        When the file is missing, not YAML, or a share is out of range or the shares of a
        column do not sum to 1.
    """
    return load_yaml_model(path, Reference, "reference")


def check_reference(
    reference: Reference, attributes: list[SensitiveAttribute], sensitive: tuple[str, ...]
) -> None:
    """Refuse a reference whose columns or groups do not match the data.

    Every column of the reference must be a sensitive column, and every group of it present
    in the data (a missing value aside) must have a reference share: a misspelt group would
    otherwise read as a group absent from the data. A reference group with no row in the data
    is allowed: it is the most under-represented group of all.

    Raises
    ------
    ConfigError
        Naming the column or group, with the closest match.
    """
    from raikit.audit.groups import MISSING_GROUP

    for column in reference.columns:
        if column not in sensitive:
            hint = close_matches_hint(column, sensitive)
            raise ConfigError(
                f"the reference gives shares for column '{column}', which is not a sensitive "
                f"column{hint} (sensitive: {', '.join(sensitive) or 'none'})"
            )
    for attribute in attributes:
        shares = reference.columns.get(attribute.name)
        if shares is None or len(attribute.columns) > 1:
            continue
        counts = np.bincount(attribute.codes, minlength=len(attribute.groups))
        for label, count in zip(attribute.labels, counts, strict=True):
            if label != MISSING_GROUP and label not in shares:
                hint = close_matches_hint(label, [g for g in shares if g not in attribute.labels])
                raise ConfigError(
                    f"the reference has no share for group '{label}' of column "
                    f"'{attribute.name}' ({count} rows): add its share to the reference{hint}"
                )
