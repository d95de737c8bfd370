"""Shadow models and the likelihood-ratio attack (LiRA, Carlini et al. 2022).

K shadow models are trained with the target's own recipe (its recorded hyper-parameters, via
:func:`raikit.models.train.train`) on random halves of the population. Each shadow scores the
attacked rows; per row, the logit-scaled confidence of the true label from the shadows that
trained on it (IN) and from those that did not (OUT) are fitted with Gaussians. The online
attack scores a row by the likelihood ratio of the target's confidence under the IN and OUT
fits; the offline attack, which needs no shadow trained on the row, by how far the confidence
lies above the OUT fit (a one-sided test).

Any raikit checkpoint can be a shadow: training goes through :func:`raikit.models.train.train` and
scoring through :func:`raikit.audit.predictor.load_predictor` (logits from
:func:`raikit.audit.torch_model.torch_model` when the model has a torch module, ``predict_proba``
otherwise).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from raikit.models.errors import ConfigError, DataError

if TYPE_CHECKING:
    from raikit.audit.predictor import Predictor
    from raikit.models.data import LoadedTable
    from raikit.models.train import TrainSpec

#: Below this many shadows a row's own IN/OUT variance is too noisy; one shared variance is
#: used instead (Carlini et al.'s "fixed variance" variant, recommended for small K).
PER_EXAMPLE_VARIANCE_FROM = 64
#: Probabilities are clipped this far from 0 and 1 when no logits are available.
PROBABILITY_CLIP = 1e-12


def logit_confidence(predictor: Predictor, frame: pd.DataFrame, labels: list[str]) -> np.ndarray:
    """``φ = log p_y − log(1 − p_y)`` of each row's true label ``y``, from logits when possible.

    From logits ``z`` it is ``z_y − logsumexp(z_{j≠y})``, exact even where ``p_y`` rounds to 1
    (an overfit model's training rows), which ``predict_proba`` cannot resolve.
    """
    from scipy.special import logsumexp

    from raikit.audit.torch_model import predict_logits, torch_model

    classes = list(predictor.classes)
    lookup = {name: index for index, name in enumerate(classes)}
    unknown = sorted({label for label in labels if label not in lookup})
    if unknown:
        raise ConfigError(f"labels {unknown[:5]} are not classes of the model ({classes})")
    y = np.array([lookup[label] for label in labels], dtype=np.int64)
    model = torch_model(predictor)
    if model is not None:
        logits = predict_logits(model, frame)
        rows = np.arange(len(y))
        own = logits[rows, y]
        others = logits.copy()
        others[rows, y] = -np.inf
        return own - logsumexp(others, axis=1)
    probabilities = np.clip(
        predictor.predict_proba(frame)[np.arange(len(y)), y], PROBABILITY_CLIP, 1 - PROBABILITY_CLIP
    )
    return np.log(probabilities) - np.log1p(-probabilities)


def recipe_from_record(record: dict) -> TrainSpec:
    """The :class:`~models.train.TrainSpec` a training record's hyper-parameters describe.

    Resuming, distribution and the run's seed are not part of the recipe: each shadow is a
    fresh single-process run with its own seed.
    """
    from raikit.models.train import TrainSpec

    recorded = dict(record.get("hyperparameters") or {})
    if "label" not in recorded:
        raise ConfigError("the training record has no hyper-parameters to rebuild its recipe from")
    # The record is JSON (lists, a privacy dict); TrainSpec validates it back into its types.
    values = {k: v for k, v in recorded.items() if k in TrainSpec.model_fields}
    # The target accepted its columns on all of its rows; a shadow on half of them keeps them.
    # A shadow is a plain retraining: no canaries of a one-run audit.
    values |= {"resume": None, "distributed": False, "accept_free_text": True, "audit_canaries": 0}
    return TrainSpec(**values)


def balanced_halves(n_population: int, n_shadows: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_shadows, n_population)`` booleans: shadow ``i`` is given row ``j``.

    Every row is given to half of the shadows (Carlini et al.'s construction), so each row has
    as many shadows with it as without it; each shadow gets about half of the rows.
    """
    given = np.zeros((n_shadows, n_population), dtype=bool)
    base = np.arange(n_shadows) < n_shadows // 2
    for row in range(n_population):
        column = rng.permutation(base)
        if n_shadows % 2 and rng.random() < 0.5:
            column[np.flatnonzero(~column)[0]] = True  # odd K: the spare shadow at random
        given[:, row] = column
    return given


@dataclass(frozen=True)
class ShadowScores:
    """What the shadows saw: ``phi[i, j]`` for attacked row ``j`` under shadow ``i``."""

    phi: np.ndarray
    trained_on: np.ndarray  # phi's shape; True where shadow i's training split held the row

    def columns(self, index: np.ndarray) -> ShadowScores:
        """The scores of the rows at ``index`` only."""
        return ShadowScores(phi=self.phi[:, index], trained_on=self.trained_on[:, index])


def train_shadows(
    table: LoadedTable,
    spec: TrainSpec,
    attacked_rows: np.ndarray,
    n_shadows: int,
    *,
    seed: int = 0,
    progress: bool = True,
    workdir: Path | None = None,
) -> ShadowScores:
    """Train ``n_shadows`` shadows on halves of ``table`` and score ``attacked_rows`` with each.

    Parameters
    ----------
    table : LoadedTable
        The population (the target model's own data table).
    spec : TrainSpec
        The target's recipe (:func:`recipe_from_record`); only the seed changes per shadow.
    attacked_rows : array of int
        Positions in ``table.frame`` of the rows to attack.
    n_shadows : int
        K, at least 2.
    workdir : Path, optional
        Where the shadow checkpoints go (a temporary directory, removed afterwards, if None).
    """
    from tqdm.auto import tqdm

    from raikit.audit.predictor import load_predictor
    from raikit.models.data import LoadedTable
    from raikit.models.schema import label_text
    from raikit.models.train import train

    if n_shadows < 2:
        raise ConfigError(f"a shadow-model attack needs at least 2 shadows; got {n_shadows}")
    frame = table.frame
    rng = np.random.default_rng(seed)
    given = balanced_halves(len(frame), n_shadows, rng)
    attacked = frame.iloc[attacked_rows]
    labels = attacked[spec.label].map(label_text).tolist()
    phi = np.zeros((n_shadows, len(attacked_rows)))
    trained_on = np.zeros((n_shadows, len(attacked_rows)), dtype=bool)
    with tempfile.TemporaryDirectory(prefix="raikit-shadows-", dir=workdir) as tmp:
        bar = tqdm(range(n_shadows), desc="shadow models", unit="model", disable=not progress)
        for index in bar:
            subset = np.flatnonzero(given[index])
            shadow_table = LoadedTable(
                frame=frame.iloc[subset].reset_index(drop=True),
                source=f"{table.source} (shadow half {index + 1})",
                sha256=f"{table.sha256}:shadow{index + 1}",
                spec=table.spec,
            )
            shadow_spec = spec.replace(seed=seed * 10_007 + index + 1)
            out = Path(tmp) / f"shadow-{index + 1}"
            try:
                checkpoint = train(shadow_table, shadow_spec, out, progress=False)
            except DataError as exc:
                raise DataError(
                    f"shadow model {index + 1} cannot be trained on half of {table.source}: {exc}"
                ) from None
            in_train = np.zeros(len(frame), dtype=bool)
            in_train[subset[np.asarray(checkpoint.split["train"], dtype=np.int64)]] = True
            trained_on[index] = in_train[attacked_rows]
            phi[index] = logit_confidence(load_predictor(out), attacked, labels)
        bar.close()
    return ShadowScores(phi=phi, trained_on=trained_on)


@dataclass(frozen=True)
class LiraScores:
    """Online and offline attack scores of the attacked rows (higher: more likely a member)."""

    online: np.ndarray | None
    offline: np.ndarray
    fixed_variance: bool
    rows_without_in: int
    rows_without_out: int


def lira_scores(target_phi: np.ndarray, shadows: ShadowScores) -> LiraScores:
    """Gaussian fits of the shadows' confidences per row, and the two LiRA scores.

    A row no shadow trained on (possible with small K) borrows its IN mean from its OUT mean
    plus the average IN−OUT gap of the other rows; one no shadow left out, likewise. The
    counts of such rows are reported.
    """
    from scipy.stats import norm

    phi, trained = shadows.phi, shadows.trained_on
    n_in, n_out = trained.sum(0), (~trained).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in = np.where(n_in > 0, (phi * trained).sum(0) / n_in, np.nan)
        mean_out = np.where(n_out > 0, (phi * ~trained).sum(0) / n_out, np.nan)
    both = (n_in > 0) & (n_out > 0)
    gap = float(np.mean(mean_in[both] - mean_out[both])) if both.any() else math.nan
    if math.isnan(gap):
        gap = 0.0
    mean_in = np.where(n_in > 0, mean_in, mean_out + gap)
    mean_out = np.where(n_out > 0, mean_out, mean_in - gap)
    fixed = phi.shape[0] < PER_EXAMPLE_VARIANCE_FROM
    centred = phi - np.where(trained, mean_in, mean_out)
    if fixed:
        # Within-row variance pooled over rows, with one degree of freedom lost per row's mean
        # (a row seen once says nothing about spread). With K = 2 no row has two IN values:
        # the OUT spread stands in, and the spread of every value when neither side has any.
        std_in = _pooled_std(centred, trained, n_in)
        std_out = _pooled_std(centred, ~trained, n_out)
        fallback = max(float(np.std(phi)), 1e-6)
        std_in, std_out = std_in or std_out or fallback, std_out or std_in or fallback
        std_in = np.full(phi.shape[1], std_in)
        std_out = np.full(phi.shape[1], std_out)
    else:
        std_in = np.sqrt(np.where(trained, centred**2, 0).sum(0) / np.maximum(n_in - 1, 1))
        std_out = np.sqrt(np.where(~trained, centred**2, 0).sum(0) / np.maximum(n_out - 1, 1))
        std_in = np.maximum(std_in, 1e-6)
        std_out = np.maximum(std_out, 1e-6)
    offline = norm.logcdf((target_phi - mean_out) / std_out)
    online = None
    if (n_in > 0).any():
        online = norm.logpdf(target_phi, mean_in, std_in) - norm.logpdf(
            target_phi, mean_out, std_out
        )
    return LiraScores(
        online=online,
        offline=offline,
        fixed_variance=fixed,
        rows_without_in=int((n_in == 0).sum()),
        rows_without_out=int((n_out == 0).sum()),
    )


def _pooled_std(centred: np.ndarray, mask: np.ndarray, counts: np.ndarray) -> float | None:
    """Pooled within-row standard deviation of the masked values; ``None`` without a df."""
    degrees = int(counts.sum() - (counts > 0).sum())
    if degrees < 1:
        return None
    return max(math.sqrt(float((centred[mask] ** 2).sum()) / degrees), 1e-6)
