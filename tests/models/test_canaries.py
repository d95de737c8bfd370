"""The one-run privacy audit: its bound against the paper's theorem, and on real training runs."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from scipy.optimize import brentq

from raikit.models.canaries import (
    GUESS_SHARES,
    guess_counts,
    make_canaries,
    one_run_epsilon_bound,
    one_run_p_value,
)
from raikit.models.data import LoadedTable, frame_sha256, load_table
from raikit.models.errors import ConfigError
from raikit.models.privacy import PrivacySpec
from raikit.models.train import TrainSpec, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def theorem_p_value(m, r, v, epsilon, delta):
    """Straight from the theorem's statement, with exact binomial terms: for an (ε, δ)-DP
    algorithm, P[W >= v] <= f(v) + 2 m δ max_{i=1..v} (f(v - i) - f(v)) / i, where
    f(u) = P[Binomial(r, e^ε / (1 + e^ε)) >= u]."""
    q = math.exp(epsilon) / (1 + math.exp(epsilon))
    pmf = [math.comb(r, j) * q**j * (1 - q) ** (r - j) for j in range(r + 1)]

    def f(u):
        return math.fsum(pmf[max(u, 0) :])

    slack = max(((f(v - i) - f(v)) / i for i in range(1, v + 1)), default=0.0)
    return min(f(v) + 2 * m * delta * slack, 1.0)


def theorem_bound(m, r, v, delta, significance):
    """The ε at which the theorem's p-value reaches ``significance`` (root finding)."""
    if theorem_p_value(m, r, v, 0.0, delta) >= significance:
        return 0.0
    high = 1.0
    while theorem_p_value(m, r, v, high, delta) < significance:
        high *= 2
    return brentq(lambda e: theorem_p_value(m, r, v, e, delta) - significance, 0, high, xtol=1e-9)


@pytest.mark.parametrize(
    ("m", "r", "v", "delta", "significance"),
    [
        (1000, 100, 75, 1e-4, 0.05),
        (1000, 100, 75, 0.0, 0.05),
        (200, 200, 195, 1e-4, 0.0125),
        (200, 100, 95, 1e-5, 0.0125),
        (50, 20, 20, 1e-3, 0.05),
        (100, 10, 5, 1e-5, 0.05),  # chance-level guesses: nothing proven
    ],
)
def test_bound_matches_the_theorem(m, r, v, delta, significance):
    expected = theorem_bound(m, r, v, delta, significance)
    assert one_run_p_value(m, r, v, 0.7, delta) == pytest.approx(
        theorem_p_value(m, r, v, 0.7, delta), rel=1e-9, abs=1e-12
    )
    assert one_run_epsilon_bound(m, r, v, delta, significance) == pytest.approx(expected, abs=2e-6)


def test_pure_dp_with_every_guess_right_has_a_closed_form():
    # δ = 0, v = r: P[W >= r] = q^r = significance  =>  ε = logit(significance^(1/r)).
    q = 0.05 ** (1 / 40)
    assert one_run_epsilon_bound(100, 40, 40, 0.0, 0.05) == pytest.approx(
        math.log(q / (1 - q)), abs=2e-6
    )


def test_guesses_in_for_the_highest_scores_and_out_for_the_lowest():
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    included = np.array([True, False, True, False, False, False])
    # "in": canaries 0 (right) and 1 (wrong); "out": canaries 4 and 5 (both right).
    assert guess_counts(scores, included, 2) == (4, 3)


def test_the_bound_errs_at_most_as_often_as_its_confidence_allows():
    """The worst case of ε-DP: each guess right with probability e^ε / (1 + e^ε), independently
    (randomized response). Over 2,000 simulated audits the bound exceeds ε in at most 5% of
    them, up to three standard errors of the simulation."""
    m, r, epsilon, delta, significance = 200, 100, 1.0, 1e-5, 0.05
    # The bound is increasing in v: it exceeds ε exactly when v reaches the first v refuting ε.
    critical = next(
        v for v in range(r + 1) if one_run_p_value(m, r, v, epsilon, delta) < significance
    )
    assert one_run_epsilon_bound(m, r, critical, delta, significance) > epsilon
    assert one_run_epsilon_bound(m, r, critical - 1, delta, significance) <= epsilon
    rng = np.random.default_rng(0)
    correct = rng.binomial(r, math.exp(epsilon) / (1 + math.exp(epsilon)), size=2000)
    standard_error = math.sqrt(significance * (1 - significance) / len(correct))
    assert (correct >= critical).mean() <= significance + 3 * standard_error


def small_digits(n_rows: int = 300) -> LoadedTable:
    frame = load_table("digits").frame.sample(n_rows, random_state=0).reset_index(drop=True)
    return LoadedTable(frame, "digits-sample", frame_sha256(frame))


def test_a_run_that_memorises_its_canaries_proves_a_large_epsilon(tmp_path):
    """No noise, no clipping: an MLP that learns its canaries' random labels by heart."""
    table = small_digits()
    spec = TrainSpec(
        label="digit",
        hidden=(256,),
        dropout=0.0,
        learning_rate=1e-2,
        weight_decay=0.0,
        batch_size=32,
        epochs=25,
        patience=25,
        audit_canaries=200,
        tensorboard=False,
    )
    record = train(table, spec, tmp_path / "m", progress=False).record
    audit = record["privacy"]["one_run_audit"]
    assert audit["canaries"] == 200 and 70 < audit["canaries_included"] < 130
    assert audit["correct_guesses"] >= 0.9 * audit["guesses"]
    assert audit["epsilon_lower_bound"] > 2.0
    assert audit["verdict"] == "no_guarantee"
    # The canaries are extra rows: the table's split and its test figures do not hold them.
    assert sum(record["split"]["sizes"].values()) == len(table.frame)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_dp_run_never_proves_more_than_its_epsilon(tmp_path, seed):
    table = small_digits()
    # About 310 rows trained on in batches of 32: q = 0.1, 10 steps, epsilon about 1.1.
    privacy = PrivacySpec(noise_multiplier=1.5, accountant="rdp")
    spec = TrainSpec(
        label="digit",
        epochs=1,
        batch_size=32,
        learning_rate=1e-2,
        seed=seed,
        privacy=privacy,
        audit_canaries=200,
        tensorboard=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = train(table, spec, tmp_path / "m", progress=False).record
    audit, dp = record["privacy"]["one_run_audit"], record["privacy"]
    # 200 canaries could refute epsilon 1 (so "consistent" is a real test), and did not.
    assert audit["largest_detectable_epsilon"] > dp["epsilon"]
    assert audit["epsilon_lower_bound"] <= dp["epsilon"]
    assert audit["verdict"] == "consistent" and audit["claimed_epsilon"] == dp["epsilon"]
    assert audit["delta"] == dp["delta"] and dp["engine"] == "raikit-bookkeeping"
    # The accountant counts every row trained on, the included canaries among them.
    split_train = record["split"]["sizes"]["train"]
    assert dp["n_train_rows"] == split_train + audit["canaries_included"]
    assert len(GUESS_SHARES) * (1 - audit["confidence"]) == pytest.approx(0.2)


def test_canaries_are_reproducible_from_the_seed_and_drawn_from_training_values(tmp_path):
    import torch

    values = torch.tensor([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0]])
    inputs = {"kind": "tabular"}
    first = make_canaries(50, 7, (values,), 3, inputs, tmp_path)
    again = make_canaries(50, 7, (values,), 3, inputs, tmp_path)
    other = make_canaries(50, 8, (values,), 3, inputs, tmp_path)
    assert (
        torch.equal(first.inputs[0], again.inputs[0]) and (first.included == again.included).all()
    )
    assert not (first.included == other.included).all()
    assert set(first.inputs[0][:, 0].tolist()) <= {0.0, 1.0, 2.0}
    assert set(first.inputs[0][:, 1].tolist()) <= {10.0, 20.0, 30.0}
    assert set(first.labels.tolist()) <= {0, 1, 2}


def test_text_canaries_are_secret_strings_of_known_words(tmp_path):
    inputs = {
        "kind": "words",
        "features": ["text"],
        "text": "text",
        "vocabulary": ["alpha", "beta", "gamma"],
        "max_length": 12,
    }
    canaries = make_canaries(20, 0, (), 2, inputs, tmp_path)
    (ids,) = canaries.inputs
    # 8 words each, left-padded with 0; ids 2..4 are the three known words (never unknown: 1).
    assert ids.shape == (20, 12)
    assert (ids[:, :4] == 0).all() and ((ids[:, 4:] >= 2) & (ids[:, 4:] <= 4)).all()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"audit_canaries": 3}, "--audit-canaries must be 0 (no audit) or at least 10; got 3"),
        ({"audit_canaries": 50, "resume": "old"}, "cannot be combined with --resume"),
        ({"audit_canaries": 50, "audit_confidence": 1.0}, "audit_confidence"),
    ],
)
def test_bad_audit_settings_are_refused(fields, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        TrainSpec(label="digit", **fields)
