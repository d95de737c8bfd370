"""How far attributions can be trusted: completeness, infidelity, sensitivity, deletion.

* Convergence delta (IG only): ``sum(attributions) - (f(x) - f(baseline))``; IG's
  completeness axiom makes it 0 in the limit of infinitely many steps.
* Infidelity (captum): the expected squared error between ``attributions . perturbation`` and
  the change of the output under that perturbation, with the attributions optimally rescaled
  (``normalize=True``): 0 when the attributions predict the model's response exactly.
* Max sensitivity (captum ``sensitivity_max``): the largest relative change of the attributions
  when the input moves within a small ball: large means a fragile explanation.
* Deletion curve: remove the top-k units by attribution, and the same number at random, and
  follow the probability of the explained class; the area between the two curves is positive
  when the attributions point at what the model uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from raikit.audit.explain._ig import Attributions
from raikit.audit.explain.result import DeletionCurve, ExplanationQuality


def deletion_fractions(max_units: int) -> list[float]:
    """``k / p`` for every ``k`` when there are few units, otherwise eleven even steps."""
    if 0 < max_units <= 10:
        return [k / max_units for k in range(max_units + 1)]
    return [k / 10 for k in range(11)]


def _masks(orders: list[np.ndarray], fraction: float) -> list[np.ndarray]:
    masks = []
    for order in orders:
        mask = np.zeros(len(order), dtype=bool)
        mask[order[: int(round(fraction * len(order)))]] = True
        masks.append(mask)
    return masks


def deletion_curve(
    engine: Any, attributions: Attributions, n_random_orders: int, seed: int
) -> DeletionCurve | None:
    """Mean probability of the explained class as units are removed, attributed vs random."""
    sizes = [len(s) for s in attributions.scores]
    if not sizes or max(sizes) == 0:
        return None
    fractions = deletion_fractions(max(sizes))
    ranked = [np.argsort(-s, kind="stable") for s in attributions.scores]
    rng = np.random.default_rng(seed)
    random_orders = [[rng.permutation(n) for n in sizes] for _ in range(n_random_orders)]
    attributed, random = [], []
    for fraction in fractions:
        attributed.append(float(engine.remove(attributions, _masks(ranked, fraction)).mean()))
        random.append(
            float(
                np.mean(
                    [
                        engine.remove(attributions, _masks(orders, fraction)).mean()
                        for orders in random_orders
                    ]
                )
            )
        )
    area = float(np.mean(np.asarray(random) - np.asarray(attributed)))
    return DeletionCurve(
        fractions=fractions,
        attributed=attributed,
        random=random,
        n_random_orders=n_random_orders,
        area_between=area,
    )


def _gaussian(std: float):
    def perturb(inputs):
        import torch

        noise = torch.randn_like(inputs) * std
        return noise, inputs - noise

    return perturb


def _subset(inputs, baselines):
    """Replace a random 30% of the columns of each row by their baseline."""
    import torch

    chosen = torch.rand_like(inputs) < 0.3
    perturbed = torch.where(chosen, baselines, inputs)
    return inputs - perturbed, perturbed


def _scaled_uniform(scale):
    def perturb(inputs, radius):
        import torch

        noise = (torch.rand_like(inputs) * 2 - 1) * radius * scale
        return inputs + noise

    return perturb


def measure_quality(
    engine: Any,
    attributions: Attributions,
    rows: np.ndarray,
    *,
    n_perturb_samples: int,
    sensitivity_radius: float,
    n_random_orders: int,
    seed: int,
) -> ExplanationQuality:
    """Every quality measure of ``attributions``; infidelity/sensitivity on ``rows`` only."""
    import torch
    from captum.metrics import infidelity, sensitivity_max

    delta_mean = relative = None
    if attributions.delta is not None:
        delta_mean = float(np.mean(np.abs(attributions.delta)))
        gap = float(np.mean(np.abs(attributions.gap)))
        relative = delta_mean / gap if gap > 0 else None
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        problem = engine.quality_problem(attributions, rows)
        target = attributions.target[rows].tolist()
        extra = problem["additional"]
        if problem["noise"] is None:
            perturbation = "a random 30% of the columns replaced by their baseline"
            infid = infidelity(
                problem["forward"],
                _subset,
                problem["inputs"],
                problem["attributions"],
                baselines=problem["baselines"],
                target=target,
                n_perturb_samples=n_perturb_samples,
                normalize=True,
            )
            perturb = _scaled_uniform(problem["scale"])
            radius = sensitivity_radius
        else:
            std = problem["noise"]
            perturbation = f"Gaussian noise with standard deviation {std:.3g} on the inputs"
            infid = infidelity(
                problem["forward"],
                _gaussian(std),
                problem["inputs"],
                problem["attributions"],
                additional_forward_args=extra,
                target=target,
                n_perturb_samples=n_perturb_samples,
                normalize=True,
            )
            perturb = None
            radius = sensitivity_radius * (std / 0.1)
        kwargs = {"baselines": problem["baselines"], "target": target}
        if extra is not None:
            kwargs["additional_forward_args"] = extra
        if perturb is None:
            sens = sensitivity_max(
                problem["explain"],
                problem["inputs"],
                perturb_radius=radius,
                n_perturb_samples=n_perturb_samples,
                **kwargs,
            )
        else:
            sens = sensitivity_max(
                problem["explain"],
                problem["inputs"],
                perturb_func=perturb,
                perturb_radius=radius,
                n_perturb_samples=n_perturb_samples,
                **kwargs,
            )
    return ExplanationQuality(
        n_rows=len(rows),
        convergence_delta_mean=delta_mean,
        convergence_delta_relative=relative,
        infidelity=_finite_mean(infid),
        infidelity_perturbation=perturbation,
        sensitivity_max=_finite_mean(sens),
        sensitivity_radius=float(radius),
        deletion=deletion_curve(engine, attributions, n_random_orders, seed),
    )


def _finite_mean(values) -> float | None:
    array = values.detach().numpy().astype(np.float64).ravel()
    array = array[np.isfinite(array)]
    return float(array.mean()) if len(array) else None
