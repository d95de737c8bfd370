"""Integrated Gradients for raikit's torch models: tabular MLPs, text models, image CNNs.

Each engine turns rows of a frame into per-row attributions over *units* the user knows
(tabular: raw columns; text: words; images: pixels), and can remove units (set them to the
baseline) for the deletion curve. Steps are adaptive: every row starts at ``n_steps`` and rows
whose convergence delta exceeds ``tolerance`` of ``|f(x) - f(baseline)|`` are recomputed with
twice the steps, up to ``max_steps``. Rows are processed ``batch_rows`` at a time and captum's
``internal_batch_size`` bounds each forward pass, so memory stays flat on large inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from raikit.audit.torch_model import TorchModel


@dataclass(frozen=True)
class IGSettings:
    """How attributions are computed (all recorded in the result)."""

    n_steps: int = 16
    max_steps: int = 128
    tolerance: float = 0.05
    internal_batch_size: int = 512
    batch_rows: int = 64
    baseline: str = "mean"


@dataclass
class Attributions:
    """Per-row attributions over units, and what is needed to perturb the same rows again."""

    units: list[list[str]]
    values: list[list[str]]
    scores: list[np.ndarray]
    target: np.ndarray
    delta: np.ndarray | None = None
    gap: np.ndarray | None = None
    steps_used: int | None = None
    images: list[np.ndarray] | None = None
    saliency: list[np.ndarray] | None = None
    state: dict[str, Any] = field(default_factory=dict)


def _chunks(n: int, size: int, progress: bool, what: str):
    starts = range(0, n, max(1, size))
    if progress:
        from tqdm.auto import tqdm

        return tqdm(starts, desc=what, unit="batch", leave=False)
    return starts


def adaptive_ig(
    attribute, inputs: tuple, gap: np.ndarray, settings: IGSettings, progress: bool, what: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Run ``attribute(inputs_subset, rows, n_steps) -> (attr, delta)`` with adaptive steps.

    Returns the attributions (numpy, first axis rows), the convergence deltas and the largest
    step count used.
    """
    import torch

    n = len(inputs[0])
    # captum runs at least one step of every row together: rows per call <= internal batch.
    size = min(settings.batch_rows, settings.internal_batch_size)
    parts, deltas = [], []
    for start in _chunks(n, size, progress, what):
        rows = torch.arange(start, min(n, start + size))
        attr, delta = attribute(tuple(t[rows] for t in inputs), rows, settings.n_steps)
        parts.append(attr.detach().numpy().astype(np.float64))
        deltas.append(delta.detach().numpy().astype(np.float64))
    attributions, delta = np.concatenate(parts), np.concatenate(deltas)
    steps, used = settings.n_steps, settings.n_steps
    while steps < settings.max_steps:
        bad = np.flatnonzero(np.abs(delta) > settings.tolerance * np.maximum(np.abs(gap), 1e-3))
        if len(bad) == 0:
            break
        steps *= 2
        used = steps
        for start in range(0, len(bad), size):
            rows = torch.from_numpy(bad[start : start + size])
            attr, again = attribute(tuple(t[rows] for t in inputs), rows, steps)
            attributions[rows.numpy()] = attr.detach().numpy()
            delta[rows.numpy()] = again.detach().numpy()
    return attributions, delta, used


def _target_logit(module, inputs: tuple, target: np.ndarray, batch: int = 256) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(inputs[0]), batch):
            logits = module(*[t[start : start + batch] for t in inputs])
            idx = torch.as_tensor(target[start : start + batch])
            out.append(logits.gather(1, idx[:, None])[:, 0].numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def target_probability(module, inputs: tuple, target: np.ndarray, batch: int = 256) -> np.ndarray:
    """Softmax probability of ``target`` for each row of the encoded ``inputs``."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(inputs[0]), batch):
            probs = torch.softmax(module(*[t[start : start + batch] for t in inputs]), dim=1)
            idx = torch.as_tensor(target[start : start + batch])
            out.append(probs.gather(1, idx[:, None])[:, 0].numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


class TabularIG:
    """IG on the encoded (scaled, one-hot) inputs, summed back to the raw columns."""

    kind = "tabular"
    method = "integrated-gradients"

    def __init__(
        self, model: TorchModel, reference: pd.DataFrame, reference_note: str, s: IGSettings
    ):
        import torch

        self.model, self.settings = model, s
        self.groups = model.encoded_column_groups()
        self.columns = list(self.groups)
        (encoded,) = model.encode(reference)
        if s.baseline == "zeros":
            self.baseline = torch.zeros((1, encoded.shape[1]))
            self.baselines = "zeros in the encoded space (numeric columns at their training mean)"
        else:
            self.baseline = encoded.mean(dim=0, keepdim=True)
            self.baselines = f"mean of the encoded inputs of {reference_note}"

    def encode(self, frame: pd.DataFrame) -> tuple:
        return self.model.encode(frame)

    def attribute(self, frame: pd.DataFrame, target: np.ndarray, progress: bool) -> Attributions:
        from captum.attr import IntegratedGradients

        inputs = self.encode(frame)
        ig = IntegratedGradients(self.model.module)
        base = self.baseline
        gap = _target_logit(self.model.module, inputs, target) - _target_logit(
            self.model.module, (base.expand(len(frame), -1),), target
        )

        def attribute(chunk, rows, steps):
            return ig.attribute(
                chunk[0],
                baselines=base.expand(len(rows), -1),
                target=target[rows.numpy()].tolist(),
                n_steps=steps,
                internal_batch_size=self.settings.internal_batch_size,
                return_convergence_delta=True,
            )

        encoded, delta, used = adaptive_ig(attribute, inputs, gap, self.settings, progress, "IG")
        scores = np.stack(
            [encoded[:, self.groups[c]].sum(axis=1) for c in self.columns], axis=1
        )  # completeness holds per row: the groups partition the encoded inputs
        return Attributions(
            units=[self.columns] * len(frame),
            values=[[_text(v) for v in row] for row in frame[self.columns].itertuples(False)],
            scores=list(scores),
            target=target,
            delta=delta,
            gap=gap,
            steps_used=used,
            state={"inputs": inputs, "encoded": encoded},
        )

    def remove(self, attributions: Attributions, masks: list[np.ndarray]) -> np.ndarray:
        """Probability of the target after replacing each row's masked columns by the baseline."""
        (x,) = attributions.state["inputs"]
        x = x.clone()
        for row, mask in enumerate(masks):
            for j in np.flatnonzero(mask):
                positions = self.groups[self.columns[j]]
                x[row, positions] = self.baseline[0, positions]
        return target_probability(self.model.module, (x,), attributions.target)

    def quality_problem(self, attributions: Attributions, rows: np.ndarray) -> dict[str, Any]:
        """What captum's infidelity and sensitivity_max need, in the encoded space."""
        import torch
        from captum.attr import IntegratedGradients

        (x,) = attributions.state["inputs"]
        idx = torch.from_numpy(rows)
        return {
            "forward": self.model.module,
            "inputs": x[idx],
            "attributions": torch.from_numpy(attributions.state["encoded"][rows]).float(),
            "baselines": self.baseline.expand(len(rows), -1),
            "additional": None,
            "explain": _ig_explain(
                IntegratedGradients(self.model.module), self.settings, attributions
            ),
            "noise": 0.1,
        }


def _ig_explain(ig, settings: IGSettings, attributions: Attributions):
    """``ig.attribute`` at the step count the rows converged with (for sensitivity_max)."""

    def explain(inputs, **kwargs):
        return ig.attribute(
            inputs,
            n_steps=attributions.steps_used or settings.n_steps,
            internal_batch_size=settings.internal_batch_size,
            **kwargs,
        )

    return explain


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class ImageIG:
    """IG on pixels (baseline: a black image) with gradient saliency beside it."""

    kind = "image"
    method = "integrated-gradients"
    baselines = "zeros (a black image)"

    def __init__(self, model: TorchModel, s: IGSettings):
        self.model, self.settings = model, s
        self.shape = list(model.inputs["shape"])

    def attribute(self, frame: pd.DataFrame, target: np.ndarray, progress: bool) -> Attributions:
        import torch
        from captum.attr import IntegratedGradients

        inputs = self.model.encode(frame)
        ig = IntegratedGradients(self.model.module)
        zero = torch.zeros_like(inputs[0][:1])
        gap = _target_logit(self.model.module, inputs, target) - _target_logit(
            self.model.module, (zero.expand_as(inputs[0]),), target
        )

        def attribute(chunk, rows, steps):
            return ig.attribute(
                chunk[0],
                baselines=zero.expand_as(chunk[0]),
                target=target[rows.numpy()].tolist(),
                n_steps=steps,
                internal_batch_size=self.settings.internal_batch_size,
                return_convergence_delta=True,
            )

        full, delta, used = adaptive_ig(attribute, inputs, gap, self.settings, progress, "IG")
        height, width = self.shape[-2:]
        maps = full.sum(axis=1)  # channels -> one map per image
        names = [f"pixel ({r}, {c})" for r in range(height) for c in range(width)]
        pixels = inputs[0].numpy().mean(axis=1)
        return Attributions(
            units=[names] * len(frame),
            values=[[f"{v:.3g}" for v in img.ravel()] for img in pixels],
            scores=[m.ravel() for m in maps],
            target=target,
            delta=delta,
            gap=gap,
            steps_used=used,
            images=list(pixels),
            state={"inputs": inputs, "full": full},
        )

    def saliency(self, attributions: Attributions, rows: list[int]) -> list[np.ndarray]:
        """|gradient| maps of the given rows (captum ``Saliency``), channels summed."""
        import torch
        from captum.attr import Saliency

        (x,) = attributions.state["inputs"]
        idx = torch.as_tensor(rows, dtype=torch.long)
        grads = Saliency(self.model.module).attribute(
            x[idx].clone().requires_grad_(), target=attributions.target[rows].tolist(), abs=True
        )
        return list(grads.detach().numpy().sum(axis=1))

    def remove(self, attributions: Attributions, masks: list[np.ndarray]) -> np.ndarray:
        (x,) = attributions.state["inputs"]
        x = x.clone()
        width = self.shape[-1]
        for row, mask in enumerate(masks):
            for j in np.flatnonzero(mask):
                x[row, :, j // width, j % width] = 0.0
        return target_probability(self.model.module, (x,), attributions.target)

    def quality_problem(self, attributions: Attributions, rows: np.ndarray) -> dict[str, Any]:
        import torch
        from captum.attr import IntegratedGradients

        (x,) = attributions.state["inputs"]
        idx = torch.from_numpy(rows)
        return {
            "forward": self.model.module,
            "inputs": x[idx],
            "attributions": torch.from_numpy(attributions.state["full"][rows]).float(),
            "baselines": torch.zeros_like(x[idx]),
            "additional": None,
            "explain": _ig_explain(
                IntegratedGradients(self.model.module), self.settings, attributions
            ),
            "noise": 0.1,
        }
