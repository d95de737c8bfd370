"""A fitted scikit-learn classifier (or Pipeline) given in memory, scored through ``predict_proba``.

It reads the columns it was fitted on (``feature_names_in_``, set when it was fitted on a
DataFrame; a Pipeline with a ``ColumnTransformer`` takes the raw columns) or the
``feature_columns`` given. It has no gradients: explanations use feature ablation and the
adversarial attacks are reported as not run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from raikit.audit.adapters import in_memory_info, in_memory_path, qualified_name
from raikit.models.errors import ConfigError, DataError, ModelError, close_matches_hint

if TYPE_CHECKING:
    from raikit.audit.evidence import ModelInfo

KIND = "sklearn"


def detect(model: Any) -> bool:
    """A scikit-learn style estimator: ``fit``, ``predict`` and ``get_params``."""
    return all(hasattr(model, name) for name in ("fit", "predict", "get_params"))


@dataclass
class SklearnPredictor:
    """A fitted classifier scoring the rows' ``feature_columns`` with ``predict_proba``."""

    estimator: Any
    feature_columns: list[str]
    classes: list[str]
    path: str
    named_columns: bool = True
    kind: str = KIND

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_columns if c not in frame.columns]
        if missing:
            hint = close_matches_hint(missing[0], frame.columns)
            raise DataError(f"the model needs column '{missing[0]}', not in the data{hint}")
        inputs = frame[self.feature_columns]
        try:
            proba = self.estimator.predict_proba(
                inputs if self.named_columns else inputs.to_numpy()
            )
        except (ValueError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{self.path} could not score the data: {first}") from exc
        return np.asarray(proba, dtype=np.float64)

    def describe(self) -> ModelInfo:
        """Kind, name, a sha256 of the fitted state (joblib's hash, with sha256)."""
        from joblib.hashing import NumpyHasher

        architecture = qualified_name(self.estimator)
        steps = getattr(self.estimator, "steps", None)
        if steps:
            architecture += ": " + " -> ".join(type(step).__name__ for _, step in steps)
        state = NumpyHasher(hash_name="sha256").hash(self.estimator)
        return in_memory_info(KIND, self.path, state, architecture)


def load(model: Any, *, feature_columns: list[str] | None = None) -> SklearnPredictor:
    """Wrap a fitted classifier.

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict_proba`` and ``classes_``.
    feature_columns : list of str, optional
        The columns it reads, in order; by default its ``feature_names_in_``.

    Raises
    ------
    ModelError
        When it is not fitted or gives no probabilities.
    ConfigError
        When it was fitted without column names and ``feature_columns`` is not given.
    """
    from raikit.models.schema import label_text

    name = type(model).__name__
    if not hasattr(model, "classes_"):
        raise ModelError(
            f"the scikit-learn {name} is not fitted (it has no classes_): fit it first"
        )
    if not hasattr(model, "predict_proba"):
        raise ModelError(
            f"the scikit-learn {name} gives no probabilities (predict_proba): raikit needs them; "
            "use probability=True or wrap it in CalibratedClassifierCV"
        )
    known = getattr(model, "feature_names_in_", None)
    if feature_columns is None and known is None:
        raise ConfigError(
            f"the scikit-learn {name} was fitted without column names: pass "
            "feature_columns=[...], the columns it reads, in order"
        )
    columns = [str(c) for c in (feature_columns if feature_columns is not None else known)]
    if known is not None and feature_columns is not None and columns != [str(c) for c in known]:
        raise ConfigError(
            f"feature_columns {columns} differ from the columns the {name} was fitted on "
            f"({[str(c) for c in known]})"
        )
    classes = [label_text(c) for c in model.classes_]
    return SklearnPredictor(
        model, columns, classes, in_memory_path(KIND, model), named_columns=known is not None
    )
