"""A privacy audit of one training run with canaries (Steinke, Nasr & Jagielski, NeurIPS 2023).

``rai train --audit-canaries M`` makes M canaries from a recorded seed: random inputs with
random labels (each value drawn from that input position's training values), or for text
models random secret strings (words of the model's vocabulary) with random labels. Each
canary joins the training rows with probability 1/2. After training, a canary's score is
minus the loss of its own label; the auditor guesses "in" for the k highest scores and "out"
for the k lowest and abstains on the rest.

If training is (ε, δ)-DP, the number ``v`` of correct guesses out of ``r`` is no more likely
than under Binomial(r, e^ε / (1 + e^ε)), up to a δ term (the paper's theorem for approximate
DP, computed as in its Appendix D): a ``v`` too large for ε refutes ε at the chosen
confidence, and the largest refuted ε is the lower bound. Guesses are made for a fixed grid
of ``k`` (Bonferroni over the grid, so the best of them is still a valid bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from raikit.models.errors import DataError

if TYPE_CHECKING:
    import torch

#: Share of the canaries guessed on (half "in", half "out"), one test per share.
GUESS_SHARES = (0.1, 0.2, 0.5, 1.0)
#: Words in a text canary's secret string.
SECRET_WORDS = 8
#: Keeps the canaries' random stream apart from every other use of the run's seed.
CANARY_STREAM = 0xCA7A


@dataclass(frozen=True)
class Canaries:
    """The canaries of a run: input tensors, labels, and which ones were trained on."""

    inputs: tuple[torch.Tensor, ...]
    labels: torch.Tensor
    included: np.ndarray  # bool, one per canary

    def appended_to(self, rows: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """``(*inputs, labels)`` training tensors with the included canaries appended."""
        import torch

        chosen = torch.from_numpy(np.flatnonzero(self.included))
        extra = (*self.inputs, self.labels)
        return tuple(torch.cat([t, e[chosen]]) for t, e in zip(rows, extra, strict=True))


def make_canaries(
    n_canaries: int,
    seed: int,
    train_inputs: tuple[torch.Tensor, ...],
    n_classes: int,
    inputs: dict[str, Any],
    model_dir: Path,
) -> Canaries:
    """``n_canaries`` canaries for a model of ``inputs``' kind, each included with probability 1/2.

    Parameters
    ----------
    train_inputs : tuple of tensors
        The encoded training rows: numeric canaries draw each value from these.
    inputs : dict
        The input description (:func:`raikit.models.inputs.fit_inputs`).
    model_dir : Path
        Where the model's tokenizer is saved (Hugging Face text models).
    """
    import torch

    rng = np.random.default_rng([CANARY_STREAM, seed])
    included = rng.random(n_canaries) < 0.5
    labels = torch.from_numpy(rng.integers(n_classes, size=n_canaries))
    if inputs["kind"] in ("words", "hf-tokenizer"):
        import pandas as pd

        from raikit.models.inputs import encode_inputs

        words = _vocabulary(inputs, model_dir)
        picks = rng.integers(len(words), size=(n_canaries, SECRET_WORDS))
        texts = [" ".join(words[i] for i in row) for row in picks]
        encoded = encode_inputs(pd.DataFrame({inputs["text"]: texts}), inputs, model_dir)
        return Canaries(encoded, labels, included)
    (values,) = train_inputs
    flat = values.reshape(len(values), -1)
    rows = torch.from_numpy(rng.integers(len(values), size=(n_canaries, flat.shape[1])))
    drawn = torch.gather(flat, 0, rows)  # value j of canary i: value j of a random row
    return Canaries((drawn.reshape(n_canaries, *values.shape[1:]),), labels, included)


def _vocabulary(inputs: dict[str, Any], model_dir: Path) -> list[str]:
    """Whole words the model's text encoder knows, in a fixed order."""
    if inputs["kind"] == "words":
        words = list(inputs["vocabulary"])
    else:
        from raikit.models.inputs import load_tokenizer

        tokenizer = load_tokenizer(Path(model_dir) / inputs["tokenizer"])
        words = sorted(t for t in tokenizer.get_vocab() if t.isalpha())
    if not words:
        raise DataError("the text vocabulary is empty: no words to make secret canaries from")
    return words


def canary_scores(module: Any, canaries: Canaries) -> np.ndarray:
    """Minus each canary's cross-entropy on its own label under ``module`` (higher: "in")."""
    import torch

    module.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(canaries.labels), 256):
            part = slice(start, start + 256)
            logits = module(*[t[part] for t in canaries.inputs])
            loss = torch.nn.functional.cross_entropy(
                logits.float(), canaries.labels[part], reduction="none"
            )
            scores.append(-loss.double().numpy())
    return np.concatenate(scores)


def one_run_p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """Probability of ``v`` or more correct guesses out of ``r`` if training is (ε, δ)-DP.

    ``P[Binomial(r, q) >= v] + 2 m δ max_i P[v - i <= Binomial(r, q) < v] / i`` with
    ``q = e^ε / (1 + e^ε)`` and ``i`` in ``1..v``, for ``m`` canaries.
    """
    from scipy.special import expit
    from scipy.stats import binom

    q = float(expit(epsilon))
    tail = float(binom.sf(v - 1, r, q))
    if delta == 0 or v == 0:
        return min(tail, 1.0)
    steps = np.arange(1, v + 1)
    below = binom.cdf(v - 1, r, q) - binom.cdf(v - 1 - steps, r, q)
    return min(tail + 2 * m * delta * float(np.max(below / steps)), 1.0)


def one_run_epsilon_bound(m: int, r: int, v: int, delta: float, significance: float) -> float:
    """The largest ε that ``v`` correct guesses out of ``r`` refute at level ``significance``.

    0 when even ε = 0 is not refuted. Bisection keeps the low end refuted, so the result
    errs low (by less than 1e-6).
    """
    if one_run_p_value(m, r, v, 0.0, delta) >= significance:
        return 0.0
    low, high = 0.0, 1.0
    while one_run_p_value(m, r, v, high, delta) < significance:
        low, high = high, 2 * high
    while high - low > 1e-6:
        middle = (low + high) / 2
        if one_run_p_value(m, r, v, middle, delta) < significance:
            low = middle
        else:
            high = middle
    return low


def guess_counts(scores: np.ndarray, included: np.ndarray, k: int) -> tuple[int, int]:
    """Guesses and correct guesses: "in" for the ``k`` highest scores, "out" for the ``k`` lowest.

    Ties are broken by canary order (fixed before training), never by membership.
    """
    order = np.argsort(-scores, kind="stable")
    correct = int(included[order[:k]].sum() + (~included[order[len(order) - k :]]).sum())
    return 2 * k, correct


def guesses_per_side(m: int) -> list[int]:
    """The ``k`` of each test: ``GUESS_SHARES`` of ``m`` canaries, half "in" and half "out"."""
    return [max(1, math.floor(share * m / 2)) for share in GUESS_SHARES]


def largest_detectable_epsilon(m: int, delta: float, confidence: float) -> float:
    """The bound ``m`` canaries give when every guess is right: the most they can show."""
    significance = (1 - confidence) / len(GUESS_SHARES)
    return max(
        one_run_epsilon_bound(m, 2 * k, 2 * k, delta, significance) for k in guesses_per_side(m)
    )


def one_run_verdict(bound: float, largest: float, claimed_epsilon: float | None) -> str:
    """``inconsistent`` when the bound exceeds the claimed ε (the guarantee is violated),
    ``inconclusive`` when even all guesses right (``largest``) could not have, ``consistent``
    otherwise, ``no_guarantee`` without a claim."""
    if claimed_epsilon is None:
        return "no_guarantee"
    if bound > claimed_epsilon:
        return "inconsistent"
    return "inconclusive" if largest <= claimed_epsilon else "consistent"


def audit_record(
    scores: np.ndarray,
    included: np.ndarray,
    *,
    seed: int,
    kind: str,
    delta: float,
    confidence: float,
    claimed_epsilon: float | None,
) -> dict[str, Any]:
    """The ``one_run_audit`` entry of the training record: guesses, bound and verdict
    (:func:`one_run_verdict`)."""
    m = len(scores)
    significance = (1 - confidence) / len(GUESS_SHARES)
    tests = []
    for k in guesses_per_side(m):
        r, v = guess_counts(scores, included, k)
        tests.append((one_run_epsilon_bound(m, r, v, delta, significance), r, v))
    # The strongest test; among equal bounds (none proven, say) the one with the most guesses.
    bound, guesses, correct = max(tests, key=lambda test: (test[0], test[1]))
    largest_possible = largest_detectable_epsilon(m, delta, confidence)
    verdict = one_run_verdict(bound, largest_possible, claimed_epsilon)
    return {
        "method": "one training run with canaries (Steinke, Nasr & Jagielski 2023)",
        "canaries": m,
        "canaries_included": int(included.sum()),
        "canary_kind": "random secret strings with random labels"
        if kind in ("words", "hf-tokenizer")
        else "random inputs with random labels",
        "seed": seed,
        "score": "minus the loss of the canary's own label",
        "guesses": guesses,
        "correct_guesses": correct,
        "guess_shares": list(GUESS_SHARES),
        "confidence": confidence,
        "delta": delta,
        "epsilon_lower_bound": round(bound, 6),
        "largest_detectable_epsilon": round(largest_possible, 6),
        "claimed_epsilon": claimed_epsilon,
        "verdict": verdict,
        "note": "canaries are not rows of the data: the test and validation figures never "
        "include them; the per-epoch training loss and accuracy do",
    }
