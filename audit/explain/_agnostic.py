"""Model-agnostic attributions over raw columns, through ``predict_proba`` only.

For a predictor without gradients (a predictions-only model, a post-processed mitigated
model), each raw column becomes one number captum can perturb: numeric columns as they are,
other columns as the index of their value in a list of the values seen. Feature Ablation
replaces one column at a time by its baseline (training mean, or most frequent value);
Kernel SHAP fits a weighted linear model over random coalitions of columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from raikit.audit.explain._ig import Attributions, _text

METHODS = ("feature-ablation", "kernel-shap")


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


class ColumnCoder:
    """Raw columns <-> a float tensor (categories as indices into the values seen)."""

    def __init__(self, columns: list[str], reference: pd.DataFrame, frame: pd.DataFrame):
        self.columns = columns
        self.numeric = {c: _is_numeric(reference[c]) for c in columns}
        self.dtypes = {c: frame[c].dtype for c in columns}
        self.values: dict[str, list[Any]] = {}
        baseline, scale = [], []
        for c in columns:
            if self.numeric[c]:
                values = pd.to_numeric(reference[c], errors="coerce")
                baseline.append(float(values.mean()))
                scale.append(float(values.std()) or 1.0)
            else:
                both = pd.concat([reference[c], frame[c]], ignore_index=True)
                self.values[c] = list(pd.unique(both))
                mode = reference[c].mode(dropna=False)
                baseline.append(float(self.values[c].index(mode.iloc[0])) if len(mode) else 0.0)
                scale.append(0.0)  # categories are not perturbed continuously
        self.baseline = np.asarray(baseline, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, c in enumerate(self.columns):
            if self.numeric[c]:
                out[:, j] = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
            else:
                lookup = {v: i for i, v in enumerate(self.values[c]) if v == v}
                missing = next((i for i, v in enumerate(self.values[c]) if v != v), 0)
                out[:, j] = [lookup.get(v, missing) if v == v else missing for v in frame[c]]
        return out

    def decode(self, codes: np.ndarray) -> pd.DataFrame:
        data = {}
        for j, c in enumerate(self.columns):
            if self.numeric[c]:
                column = pd.Series(codes[:, j])
                if pd.api.types.is_integer_dtype(self.dtypes[c]):
                    column = column.round().astype(self.dtypes[c])
                data[c] = column
            else:
                index = np.clip(np.rint(codes[:, j]).astype(int), 0, len(self.values[c]) - 1)
                data[c] = pd.Series([self.values[c][i] for i in index], dtype=object)
        return pd.DataFrame(data)


class Agnostic:
    """Feature Ablation (default) or Kernel SHAP over raw columns via ``predict_proba``."""

    kind = "tabular"

    def __init__(
        self,
        predictor,
        columns: list[str],
        reference: pd.DataFrame,
        reference_note: str,
        frame: pd.DataFrame,
        method: str = "feature-ablation",
        n_samples: int = 200,
        seed: int = 0,
    ):
        self.predictor, self.method, self.n_samples, self.seed = predictor, method, n_samples, seed
        self.columns = columns
        self.coder = ColumnCoder(columns, reference, frame)
        self.baselines = (
            f"mean (numeric) or most frequent value (other columns) of {reference_note}"
        )

    def forward(self, codes):
        """``predict_proba`` of coded rows, as a tensor captum can read."""
        import torch

        frame = self.coder.decode(codes.detach().numpy().astype(np.float64))
        return torch.from_numpy(np.asarray(self.predictor.predict_proba(frame), dtype=np.float64))

    def _explainer(self):
        from captum.attr import FeatureAblation, KernelShap

        return (FeatureAblation if self.method == "feature-ablation" else KernelShap)(self.forward)

    def _attribute_codes(self, x, target: np.ndarray, progress: bool = False):
        import torch

        explainer = self._explainer()
        base = torch.from_numpy(self.coder.baseline)[None, :]
        if self.method == "feature-ablation":
            return explainer.attribute(x, baselines=base.expand_as(x), target=target.tolist())
        torch.manual_seed(self.seed)
        rows = range(len(x))
        if progress:
            from tqdm.auto import tqdm

            rows = tqdm(rows, desc="Kernel SHAP", unit="row", leave=False)
        return torch.cat(
            [
                explainer.attribute(
                    x[i : i + 1], baselines=base, target=int(target[i]), n_samples=self.n_samples
                )
                for i in rows
            ]
        )

    def attribute(self, frame: pd.DataFrame, target: np.ndarray, progress: bool) -> Attributions:
        import torch

        x = torch.from_numpy(self.coder.encode(frame))
        scores = self._attribute_codes(x, target, progress).detach().numpy().astype(np.float64)
        return Attributions(
            units=[self.columns] * len(frame),
            values=[[_text(v) for v in row] for row in frame[self.columns].itertuples(False)],
            scores=list(scores),
            target=target,
            state={"inputs": x},
        )

    def remove(self, attributions: Attributions, masks: list[np.ndarray]) -> np.ndarray:
        x = attributions.state["inputs"].clone().numpy()
        for row, mask in enumerate(masks):
            x[row, mask] = self.coder.baseline[mask]
        probs = np.asarray(self.predictor.predict_proba(self.coder.decode(x)))
        return probs[np.arange(len(x)), attributions.target]

    def quality_problem(self, attributions: Attributions, rows: np.ndarray) -> dict[str, Any]:
        import torch

        idx = torch.from_numpy(rows)
        x = attributions.state["inputs"][idx]
        scores = np.stack([attributions.scores[r] for r in rows])
        return {
            "forward": self.forward,
            "inputs": x,
            "attributions": torch.from_numpy(scores),
            "baselines": torch.from_numpy(self.coder.baseline)[None, :].expand_as(x),
            "additional": None,
            "explain": self.attribute_tensor,
            "noise": None,  # subset replacement: Gaussian noise means nothing on categories
            "scale": torch.from_numpy(self.coder.scale),
        }

    def attribute_tensor(self, inputs, baselines=None, target=None, **_: Any):
        """Attributions of coded rows (the explanation function ``sensitivity_max`` perturbs)."""
        if hasattr(target, "tolist"):
            target = target.tolist()
        target = np.asarray(target, dtype=np.int64)
        if isinstance(inputs, tuple):  # captum hands tuples in and expects tuples back
            return (self._attribute_codes(inputs[0], target),)
        return self._attribute_codes(inputs, target)
