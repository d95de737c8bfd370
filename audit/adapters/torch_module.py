"""A ``torch.nn.Module`` given in memory: a float tensor of numeric columns in, logits out.

The module reads the raw values of ``feature_columns`` (no scaling, no imputation: a missing
value is refused) as one ``(n_rows, n_features)`` tensor and returns ``(n_rows, n_classes)``
logits in the order of ``classes``. Its gradients are exposed as a tabular
:class:`~raikit.audit.torch_model.TorchModel`, so explanations run Integrated Gradients and the
robustness check runs FGSM and PGD on it (radii in the columns' own units). The module is put in
eval mode.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from raikit.audit.adapters import (
    in_memory_info,
    in_memory_path,
    module_device,
    qualified_name,
    tensors_sha256,
)
from raikit.audit.torch_model import TorchModel
from raikit.models.errors import ConfigError, DataError, ModelError, close_matches_hint

if TYPE_CHECKING:
    import torch

    from raikit.audit.evidence import ModelInfo

KIND = "torch-module"


def detect(model: Any) -> bool:
    """A ``torch.nn.Module`` that is not a Hugging Face model (those read token ids)."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(model, torch.nn.Module):
        return False
    hf = sys.modules.get("transformers.modeling_utils")
    return hf is None or not isinstance(model, hf.PreTrainedModel)


@dataclass
class _ModuleView(TorchModel):
    """The gradient view: tabular, one encoded input per column, encoded by the predictor."""

    predictor: Any = None

    def encode(self, frame: pd.DataFrame) -> tuple[torch.Tensor, ...]:
        return (self.predictor.encode(frame),)


@dataclass
class TorchModulePredictor:
    """A module scoring the raw values of ``feature_columns``."""

    module: Any
    feature_columns: list[str]
    classes: list[str]
    path: str
    kind: str = KIND
    batch_size: int = 65536

    def encode(self, frame: pd.DataFrame) -> torch.Tensor:
        """The ``(n_rows, n_features)`` float tensor of the rows' feature columns (on CPU)."""
        import torch

        missing = [c for c in self.feature_columns if c not in frame.columns]
        if missing:
            hint = close_matches_hint(missing[0], frame.columns)
            raise DataError(f"the model needs column '{missing[0]}', not in the data{hint}")
        values = frame[self.feature_columns].apply(pd.to_numeric, errors="coerce")
        for column in self.feature_columns:
            missing = frame[column].isna()
            if missing.any():
                raise DataError(
                    f"column '{column}' has {int(missing.sum())} missing value(s): the module "
                    "reads raw numbers, with no imputation; fill them first"
                )
            bad = values[column].isna()
            if bad.any():
                raise DataError(
                    f"column '{column}' holds {frame[column][bad].iloc[0]!r} in "
                    f"{int(bad.sum())} row(s): the module reads numbers only"
                )
        first = next(self.module.parameters(), None)
        dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
        return torch.from_numpy(values.to_numpy(dtype=np.float64, copy=True)).to(dtype)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        import torch

        inputs = self.encode(frame)
        device = module_device(self.module)
        outputs = []
        with torch.no_grad():
            for start in range(0, len(inputs), self.batch_size):
                logits = self.module(inputs[start : start + self.batch_size].to(device))
                if logits.dim() != 2 or logits.shape[1] != len(self.classes):
                    raise ModelError(
                        f"{self.path} returns logits of shape {tuple(logits.shape)}; expected "
                        f"(rows, {len(self.classes)}), one per class in {self.classes}"
                    )
                outputs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        if not outputs:
            return np.zeros((0, len(self.classes)))
        return np.concatenate(outputs).astype(np.float64)

    def torch_model(self) -> TorchModel:
        """Gradient access: the module as a tabular model reading the raw column values."""
        inputs = {
            "kind": "tabular",
            "features": list(self.feature_columns),
            "preprocessor": {
                "numeric": [{"name": c} for c in self.feature_columns],
                "categorical": [],
            },
        }
        self.module.eval()
        return _ModuleView(self.module, "tabular", inputs, list(self.classes), None, predictor=self)

    def describe(self) -> ModelInfo:
        """Kind, class name and a sha256 of the module's parameters and buffers."""
        return in_memory_info(
            KIND, self.path, tensors_sha256(self.module), qualified_name(self.module)
        )


def load(
    model: Any, *, feature_columns: list[str] | None = None, classes: list[str] | None = None
) -> TorchModulePredictor:
    """Wrap a module that maps the numeric ``feature_columns`` to logits over ``classes``.

    Raises
    ------
    ConfigError
        When ``feature_columns`` or ``classes`` is missing, empty or repeats a name.
    """
    from raikit.models.schema import label_text

    if not feature_columns or isinstance(feature_columns, str):
        raise ConfigError(
            "a torch.nn.Module needs feature_columns=[...]: the numeric columns its input tensor "
            "holds, in order"
        )
    if not classes or isinstance(classes, str) or len(classes) < 2:
        raise ConfigError(
            "a torch.nn.Module needs classes=[...]: the names of the classes its logits score, "
            "in order (at least two)"
        )
    columns = [str(c) for c in feature_columns]
    names = [label_text(c) for c in classes]
    for what, values in (("feature_columns", columns), ("classes", names)):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ConfigError(f"{what} names '{repeated[0]}' more than once")
    model.eval()
    return TorchModulePredictor(model, columns, names, in_memory_path("torch", model))
