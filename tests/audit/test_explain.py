"""Explanations against independent expectations: closed forms, planted signals, randomised
weights, and the deletion test."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from raikit.audit.explain import ExplainConfig, assess_explanations, explain_rows, reference_rows
from raikit.audit.predictor import ModelPredictor, load_predictor
from raikit.models.data import LoadedTable, frame_sha256
from raikit.models.errors import ConfigError, DataError
from raikit.models.inference import LoadedModel
from raikit.models.preprocess import fit_preprocessor
from raikit.models.train import TrainSpec, train

FAST = ExplainConfig(n_rows=120, n_bootstrap=100, quality_rows=8, n_perturb_samples=3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _linear_predictor(tmp_path, frame: pd.DataFrame) -> ModelPredictor:
    preprocessor = fit_preprocessor(frame)
    module = torch.nn.Linear(len(frame.columns), 2)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[0.3, -1.0, 0.5], [1.5, -2.0, 0.25]]))
        module.bias.copy_(torch.tensor([0.1, -0.2]))
    inputs = {"kind": "tabular", "features": list(frame), "preprocessor": preprocessor.to_dict()}
    config = {"task": "classification", "classes": ["no", "yes"], "inputs": inputs}
    checkpoint = SimpleNamespace(path=tmp_path, config=config, record={}, split={})
    return ModelPredictor(tmp_path, LoadedModel(checkpoint, module), ["no", "yes"])


@pytest.mark.parametrize("baseline", ["zeros", "mean"])
def test_ig_on_a_linear_model_is_weight_times_input_minus_baseline(tmp_path, baseline):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 3)) * [1, 3, 10] + [0, 5, -2], columns=list("abc"))
    predictor = _linear_predictor(tmp_path, frame)
    config = ExplainConfig(baseline=baseline, n_steps=4)
    result = explain_rows(
        predictor, frame, [0, 7, 21], target="yes", reference=frame, config=config
    )

    weights = np.array([1.5, -2.0, 0.25])
    columns = fit_preprocessor(frame).numeric
    encoded = np.column_stack([(frame[c.name] - c.mean) / c.std for c in columns])
    base = np.zeros(3) if baseline == "zeros" else encoded.mean(axis=0)
    for row in result.rows:
        scores = {f.feature: f.score for f in row.features}
        expected = weights * (encoded[row.row] - base)
        np.testing.assert_allclose([scores[c] for c in "abc"], expected, atol=1e-5)
        # Completeness: the attributions add up to f(x) - f(baseline) of the 'yes' logit.
        assert sum(scores.values()) == pytest.approx(weights @ (encoded[row.row] - base), abs=1e-5)
        assert abs(row.convergence_delta) < 1e-5
    assert result.n_steps == 4 and result.n_steps_max_used == 4  # exact already: no doubling


def test_internal_batch_size_bounds_every_gradient_pass(arrests_model, arrests_table):
    predictor = load_predictor(arrests_model.path)
    sizes = []

    def record(_module, inputs):
        if torch.is_grad_enabled():
            sizes.append(len(inputs[0]))

    handle = predictor.module.register_forward_pre_hook(record)
    try:
        config = ExplainConfig(n_steps=16, internal_batch_size=40, batch_rows=64)
        explain_rows(predictor, arrests_table.frame.iloc[:100], config=config)
    finally:
        handle.remove()
    # 100 rows x 16 steps = 1,600 path points, never more than 40 in one pass.
    assert sizes and max(sizes) <= 40 and sum(sizes) >= 1600


def _randomised(predictor):
    clone = copy.deepcopy(predictor)
    torch.manual_seed(123)
    for layer in clone.module.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    return clone


def test_attributions_of_a_trained_model_differ_from_those_of_random_weights(
    arrests_model, arrests_table
):
    predictor = load_predictor(arrests_model.path)
    frame = arrests_table.frame.iloc[:150]
    trained = explain_rows(predictor, frame, target="Yes", config=FAST)
    random = explain_rows(_randomised(predictor), frame, target="Yes", config=FAST)

    def matrix(result):
        return np.array(
            [[f.score for f in sorted(r.features, key=lambda f: f.feature)] for r in result.rows]
        )

    rho = spearmanr(matrix(trained).ravel(), matrix(random).ravel()).statistic
    assert rho < 0.5


def _planted_proxy_table(n: int = 600, seed: int = 0) -> LoadedTable:
    """``approved`` follows ``district``, a copy of ``group``; the model never reads ``group``."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], size=n)
    district = np.where(group == "a", "north", "south")
    noise = rng.normal(size=n)
    income = rng.normal(size=n)
    approved = np.where((district == "north") ^ (rng.random(n) < 0.05), "yes", "no")
    frame = pd.DataFrame(
        {
            "group": group,
            "district": district,
            "noise": noise,
            "income": income,
            "approved": approved,
        }
    )
    return LoadedTable(frame, "planted", frame_sha256(frame))


@pytest.fixture(scope="module")
def planted_model(tmp_path_factory):
    table = _planted_proxy_table()
    spec = TrainSpec(
        label="approved", sensitive=("group",), exclude_sensitive=True, epochs=15, seed=0
    )
    path = tmp_path_factory.mktemp("planted") / "model"
    train(table, spec, path, progress=False)
    return table, load_predictor(path)


def test_a_planted_proxy_is_named_with_high_reliance(planted_model):
    table, predictor = planted_model
    result = assess_explanations(
        predictor,
        table.frame,
        label="approved",
        sensitive=["group"],
        reference=reference_rows(predictor, table.frame, table.sha256),
        config=FAST,
    )
    (group,) = result.reliance
    assert not group.model_reads_attribute and group.sensitive_share is None
    assert group.proxies[0].feature == "district"
    assert group.proxies[0].adjusted_mutual_information == pytest.approx(1.0)
    assert group.proxy_share.value > 0.6 and group.proxy_share.lower > 0.5
    assert {g.group for g in group.by_group} == {"a", "b"}
    assert all(g.proxy_share > 0.5 for g in group.by_group)
    assert "relies_on_proxy" in {f.code for f in result.findings}
    assert result.features[0].feature == "district"
    assert "training rows" in result.baselines


def test_removing_attributed_features_hurts_more_than_removing_random_ones(
    arrests_model, arrests_table
):
    predictor = load_predictor(arrests_model.path)
    result = assess_explanations(
        predictor, arrests_table.frame, label="released", sensitive=["colour"], config=FAST
    )
    curve = result.quality.deletion
    assert curve.fractions[0] == 0 and curve.fractions[-1] == 1
    assert curve.attributed[0] == pytest.approx(curve.random[0])
    interior = slice(1, -1)
    assert np.all(np.array(curve.attributed[interior]) < np.array(curve.random[interior]))
    assert curve.area_between > 0.01
    assert result.quality.convergence_delta_relative < 0.05
    assert result.quality.infidelity is not None and result.quality.sensitivity_max > 0
    # Recorded settings.
    assert (result.n_rows_sampled, result.seed, result.n_steps) == (120, 0, 16)
    assert result.internal_batch_size == 512
    kinds = {item.kind for item in result.local}
    assert kinds == {"confident_error", "borderline"}
    assert {item.group["colour"] for item in result.local} == {"Black", "White"}


class OnlyAge:
    """A predictions-only model: P(yes) is a logistic function of age alone."""

    classes = ["No", "Yes"]
    kind = "function"

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-(frame["age"].to_numpy(dtype=float) - 25) / 5))
        return np.column_stack([1 - p, p])


def test_a_model_without_gradients_gets_feature_ablation_over_raw_columns(arrests_table):
    frame = arrests_table.frame.iloc[:30]
    result = explain_rows(
        OnlyAge(), frame, [0, 1, 2], target="Yes", label="released", reference=frame
    )
    assert result.method == "feature-ablation" and result.n_steps is None
    mean_age = frame["age"].mean()
    for row in result.rows:
        scores = {f.feature: f.score for f in row.features}
        assert set(scores) == set(frame.columns) - {"released"}
        assert all(scores[c] == 0 for c in scores if c != "age")
        age = frame["age"].iloc[row.row]
        expected = OnlyAge().predict_proba(pd.DataFrame({"age": [age, round(mean_age)]}))[:, 1]
        assert scores["age"] == pytest.approx(expected[0] - expected[1], abs=1e-9)


def test_the_quality_of_model_agnostic_attributions_is_measured_too(arrests_table):
    result = assess_explanations(
        OnlyAge(), arrests_table.frame, label="released", sensitive=["colour"], config=FAST
    )
    assert result.method == "feature-ablation" and result.n_steps is None
    assert result.quality.convergence_delta_mean is None  # IG only
    assert result.quality.infidelity is not None and result.quality.sensitivity_max is not None
    assert "30% of the columns" in result.quality.infidelity_perturbation
    assert result.quality.deletion.area_between > 0
    assert result.features[0].feature == "age" and result.features[0].share == pytest.approx(1)
    (colour,) = result.reliance
    assert colour.sensitive_share.value == 0  # read (a column of the frame) but never used
    assert "model_agnostic" in {f.code for f in result.findings}


def test_kernel_shap_is_available_and_finds_the_only_column_used(arrests_table):
    frame = arrests_table.frame.iloc[:30]
    config = ExplainConfig(method="kernel-shap", kernel_shap_samples=60)
    result = explain_rows(
        OnlyAge(), frame, [3], target="Yes", label="released", reference=frame, config=config
    )
    (row,) = result.rows
    assert result.method == "kernel-shap" and row.features[0].feature == "age"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "lime"}, "method must be one of"),
        ({"baseline": "median"}, "baseline must be one of"),
        ({"n_steps": 32, "max_steps": 16}, "max_steps"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ExplainConfig(**kwargs)


def test_rows_out_of_range_and_unknown_columns_are_refused(arrests_model, arrests_table):
    predictor = load_predictor(arrests_model.path)
    with pytest.raises(DataError, match="out of range"):
        explain_rows(predictor, arrests_table.frame.iloc[:5], [5])
    with pytest.raises(DataError, match="'gruop'|gruop"):
        assess_explanations(predictor, arrests_table.frame, sensitive=["gruop"])
