"""A planted case for comparing a model with its compressed copy, group by group.

A logistic regression whose decisions for a small group (5% of rows, whose other features
are zero) rest on one feature, ``z`` (zero for everyone else), which has the model's smallest
non-zero weight: magnitude pruning at the sparsity :func:`planted_model` returns removes
exactly that weight, so the small group falls to chance and the other keeps its decisions
(up to ``z``'s standardisation offset).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from raikit.models.checkpoint import FORMAT, load_module, read_checkpoint
from raikit.models.data import load_table
from raikit.models.train import TrainSpec, train

FEATURES = ("x1", "x2", "x3", "x4")
N_ROWS, SMALL_SHARE = 2_000, 0.05


def planted_frame(seed: int = 0) -> pd.DataFrame:
    """Rows of two groups: ``large`` labelled by the x's' sum, ``small`` by the sign of z."""
    rng = np.random.default_rng(seed)
    small = rng.random(N_ROWS) < SMALL_SHARE
    # The small group's x's are zero: z alone decides for it.
    frame = pd.DataFrame({name: np.where(small, 0.0, rng.normal(size=N_ROWS)) for name in FEATURES})
    frame["z"] = np.where(small, rng.choice([-1.0, 1.0], size=N_ROWS), 0.0)
    frame["group"] = np.where(small, "small", "large")
    score = np.where(small, frame["z"], frame[list(FEATURES)].sum(axis=1))
    frame["label"] = np.where(score > 0, "yes", "no")
    return frame


def planted_model(where: Path) -> tuple[Path, float]:
    """The planted checkpoint under ``where`` (its data in ``where / 'planted.csv'``) and the
    sparsity at which magnitude pruning removes ``z``'s weight and nothing else that counts."""
    path = where / "planted.csv"
    planted_frame().to_csv(path, index=False)
    spec = TrainSpec(label="label", sensitive=("group",), exclude=("group",), hidden=(), epochs=1)
    checkpoint = train(load_table(str(path)), spec, where / "model", progress=False)
    columns = load_module(checkpoint)[0].weight.shape[1]
    # Hand-set weights: class "no" reads nothing; class "yes" reads each x with weight 1 and z
    # with 0.5, the smallest non-zero weight. Pruning the zeros and then z's weight leaves the
    # x's alone.
    weight = torch.zeros(2, columns)
    weight[1, :4] = 1.0
    weight[1, 4] = 0.5
    weights = load_file(str(checkpoint.path / "model.safetensors"))
    weights["0.weight"], weights["0.bias"] = weight, torch.zeros(2)
    save_file(weights, str(checkpoint.path / "model.safetensors"), metadata={"format": FORMAT})
    assert read_checkpoint(checkpoint.path).config["features"][:5] == [*FEATURES, "z"]
    return checkpoint.path, (2 * columns - 4) / (2 * columns)
