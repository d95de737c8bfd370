"""Fairness-aware training pieces: reweighing, a fairness penalty, a scikit-learn MLP wrapper.

* :func:`reweighing_weights` — Kamiran & Calders (2012) sample weights that make the label
  statistically independent of the group in the weighted training data.
* :func:`fairness_penalty` — a differentiable demographic-parity / equalized-odds /
  true-positive-rate-parity gap of the predicted probabilities, added to the loss with a weight.
* :class:`TorchMLPClassifier` — the raikit MLP behind scikit-learn's ``fit``/``predict``
  (with ``sample_weight``), so fairlearn's reductions can train it.

torch is imported inside the functions that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from raikit.models.errors import ConfigError, DataError

if TYPE_CHECKING:
    import torch

CONSTRAINTS = ("demographic_parity", "equalized_odds", "true_positive_rate_parity")


def check_constraint(constraint: str) -> str:
    """Return ``constraint`` if raikit knows it, else raise ``ConfigError`` listing the known."""
    if constraint not in CONSTRAINTS:
        raise ConfigError(
            f"unknown fairness constraint '{constraint}'; use one of: {', '.join(CONSTRAINTS)}"
        )
    return constraint


def reweighing_weights(groups: np.ndarray, labels: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Kamiran-Calders reweighing: ``w(g, y) = P(g) P(y) / P(g, y)``.

    Under these weights every group has the same weighted positive rate as the whole data, so
    a model fitted to them is pushed towards demographic parity.

    Parameters
    ----------
    groups : array of group codes or labels, one per training row
    labels : array of 0/1 labels
    strength : float in [0, 1], default 1
        0 gives uniform weights, 1 the full reweighing; in between interpolates linearly.

    Returns
    -------
    numpy.ndarray
        One non-negative float weight per row, mean 1 when ``strength`` is 1.
    """
    if not 0.0 <= strength <= 1.0:
        raise ConfigError(f"reweighing strength must be in [0, 1]; got {strength}")
    groups, labels = np.asarray(groups), np.asarray(labels)
    if len(groups) != len(labels) or len(groups) == 0:
        raise DataError("reweighing needs one group and one label for each of at least one row")
    weights = np.ones(len(labels), dtype=np.float64)
    n = len(labels)
    for group in np.unique(groups):
        in_group = groups == group
        for label in np.unique(labels):
            cell = in_group & (labels == label)
            if cell.any():
                expected = in_group.sum() * (labels == label).sum() / n
                weights[cell] = expected / cell.sum()
    return 1.0 + strength * (weights - 1.0)


def fairness_penalty(
    logits: torch.Tensor, targets: torch.Tensor, groups: torch.Tensor, constraint: str
) -> torch.Tensor:
    """Mean absolute gap between each group's mean P(positive) and the batch mean.

    ``demographic_parity`` compares all rows; ``true_positive_rate_parity`` only rows with
    label 1; ``equalized_odds`` adds the gaps within label 1 and within label 0. Groups absent
    from the batch (or from a label stratum) are skipped; a batch with fewer than two groups
    contributes 0.

    Parameters
    ----------
    logits : tensor (n, 2)
    targets : tensor (n,) of 0/1
    groups : tensor (n,) of integer group codes
    constraint : one of :data:`CONSTRAINTS`
    """
    import torch

    check_constraint(constraint)
    positive = torch.softmax(logits, dim=1)[:, 1]
    if constraint == "demographic_parity":
        strata = [torch.ones_like(targets, dtype=torch.bool)]
    elif constraint == "true_positive_rate_parity":
        strata = [targets == 1]
    else:
        strata = [targets == 1, targets == 0]
    total = logits.new_zeros(())
    for stratum in strata:
        present = torch.unique(groups[stratum])
        if len(present) < 2:
            continue
        overall = positive[stratum].mean()
        gaps = [(positive[stratum & (groups == g)].mean() - overall).abs() for g in present]
        total = total + torch.stack(gaps).mean()
    return total


class TorchMLPClassifier(ClassifierMixin, BaseEstimator):
    """The raikit MLP as a scikit-learn binary classifier on a float matrix.

    ``fit(X, y, sample_weight)`` trains a fresh ``raikit.models.architectures.build_mlp`` network
    with Adam on the sample-weighted cross-entropy for ``epochs`` passes, seeded by ``seed``;
    ``predict`` returns 0/1 and ``predict_proba`` the softmax. fairlearn clones it through
    scikit-learn's ``get_params``, so the constructor only stores its arguments.
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (64, 32),
        dropout: float = 0.1,
        epochs: int = 5,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
    ) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.seed = seed

    def fit(self, X, y, sample_weight=None) -> TorchMLPClassifier:
        """Train on ``X`` (n, d floats) and 0/1 ``y``, optionally weighting rows."""
        import torch

        from raikit.models.architectures import build_mlp

        inputs = torch.as_tensor(np.asarray(X, dtype=np.float32))
        targets = torch.as_tensor(np.asarray(y).astype(np.int64))
        weights = np.ones(len(targets)) if sample_weight is None else np.asarray(sample_weight)
        weights = torch.as_tensor(weights / max(weights.mean(), 1e-12), dtype=torch.float32)
        self.classes_ = np.array([0, 1])
        self.arch_params_ = {
            "input_dim": int(inputs.shape[1]),
            "n_classes": 2,
            "hidden": list(self.hidden),
            "dropout": self.dropout,
        }
        torch.manual_seed(self.seed)
        self.module_ = build_mlp(inputs.shape[1], 2, tuple(self.hidden), self.dropout)
        optimizer = torch.optim.Adam(
            self.module_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        generator = torch.Generator().manual_seed(self.seed)
        self.module_.train()
        for _ in range(self.epochs):
            order = torch.randperm(len(targets), generator=generator)
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                optimizer.zero_grad()
                losses = torch.nn.functional.cross_entropy(
                    self.module_(inputs[rows]), targets[rows], reduction="none"
                )
                (losses * weights[rows]).mean().backward()
                optimizer.step()
        self.module_.eval()
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns ``[P(0), P(1)]``."""
        import torch

        with torch.no_grad():
            logits = self.module_(torch.as_tensor(np.asarray(X, dtype=np.float32)))
            return torch.softmax(logits, dim=1).numpy().astype(np.float64)

    def predict(self, X) -> np.ndarray:
        """0/1 decisions at P(1) >= 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)
