"""Reweighing, the fairness penalty, the scikit-learn MLP wrapper and the TrainSpec hooks."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from raikit.models.data import LoadedTable
from raikit.models.errors import ConfigError, DataError
from raikit.models.fair_training import TorchMLPClassifier, fairness_penalty, reweighing_weights
from raikit.models.train import TrainSpec, train
from tests.audit._planted import planted_frame

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_reweighing_matches_hand_computed_weights():
    # P(a)=3/4, P(b)=1/4, P(y=1)=P(y=0)=1/2; w = P(g) P(y) / P(g, y).
    weights = reweighing_weights(np.array(["a", "a", "a", "b"]), np.array([1, 1, 0, 0]))
    assert weights == pytest.approx([0.75, 0.75, 1.5, 0.5])


def test_reweighing_equalises_weighted_positive_rates():
    frame = planted_frame()
    groups, labels = frame["group"].to_numpy(), (frame["hired"] == "yes").to_numpy(int)
    weights = reweighing_weights(groups, labels)
    rates = [np.average(labels[groups == g], weights=weights[groups == g]) for g in ("a", "b")]
    assert rates[0] == pytest.approx(rates[1]) == pytest.approx(labels.mean())
    assert reweighing_weights(groups, labels, 0.0) == pytest.approx(np.ones(len(labels)))
    with pytest.raises(ConfigError, match="in \\[0, 1\\]"):
        reweighing_weights(groups, labels, 1.5)


def test_penalty_is_the_mean_gap_to_the_batch_mean():
    p = torch.tensor([0.9, 0.7, 0.2, 0.4])
    logits = torch.stack([torch.zeros(4), torch.log(p / (1 - p))], dim=1)
    groups, targets = torch.tensor([0, 0, 1, 1]), torch.tensor([1, 0, 1, 0])
    # Means 0.8 and 0.3 around 0.55: both gaps 0.25.
    assert float(fairness_penalty(logits, targets, groups, "demographic_parity")) == pytest.approx(
        0.25
    )
    # Label-1 rows only: 0.9 vs 0.2 around 0.55.
    tpr = fairness_penalty(logits, targets, groups, "true_positive_rate_parity")
    assert float(tpr) == pytest.approx(0.35)
    # Plus label-0 rows: 0.7 vs 0.4 around 0.55.
    eo = fairness_penalty(logits, targets, groups, "equalized_odds")
    assert float(eo) == pytest.approx(0.35 + 0.15)
    one_group = fairness_penalty(
        logits, targets, torch.zeros(4, dtype=torch.long), "equalized_odds"
    )
    assert float(one_group) == 0.0


def test_mlp_wrapper_clones_and_ignores_zero_weight_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] > 0).astype(int)
    noisy = np.r_[y, 1 - y]  # the same rows again with flipped labels, weighted 0
    weights = np.r_[np.ones(400), np.zeros(400)]
    model = clone(TorchMLPClassifier(epochs=30, hidden=(8,), learning_rate=1e-2, seed=1))
    model.fit(np.r_[X, X], noisy, sample_weight=weights)
    assert model.get_params()["hidden"] == (8,)
    assert (model.predict(X) == y).mean() > 0.9
    assert model.predict_proba(X).sum(axis=1) == pytest.approx(np.ones(400))


def test_train_spec_weight_column_is_not_a_feature(tmp_path):
    frame = planted_frame(300).assign(weight=1.0)
    table = LoadedTable(frame, "planted", "x")
    spec = TrainSpec(label="hired", epochs=1, sample_weight_column="weight")
    checkpoint = train(table, spec, tmp_path / "m", progress=False)
    assert "weight" not in checkpoint.config["features"]
    assert checkpoint.record["hyperparameters"]["sample_weight_column"] == "weight"
    with pytest.raises(DataError, match="finite numbers >= 0"):
        bad = LoadedTable(frame.assign(weight=-1.0), "planted", "x")
        train(bad, spec, tmp_path / "bad", progress=False)
    with pytest.raises(ConfigError, match="a fairness penalty needs group_column"):
        TrainSpec(label="hired", fairness_penalty=1.0)


def test_fairness_penalty_reads_its_groups_from_the_group_column(tmp_path):
    from safetensors.torch import load_file

    frame = planted_frame(300).assign(same="one", real=lambda f: f["group"])
    table = LoadedTable(frame, "planted", "x")

    def weights(name: str, **changes) -> dict:
        spec = TrainSpec(label="hired", sensitive=("group",), epochs=1, **changes)
        checkpoint = train(table, spec, tmp_path / name, progress=False)
        # The group column is never a feature (the other helper column is excluded by hand).
        assert checkpoint.config["features"] == ["skill", "proxy", "other", "group"]
        return load_file(str(tmp_path / name / "model.safetensors"))

    plain = weights("plain", exclude=("same", "real"))
    # One group: the penalty is 0 whatever the sensitive column says, so nothing changes.
    constant = weights("constant", exclude=("real",), fairness_penalty=5.0, group_column="same")
    penalised = weights("penalised", exclude=("same",), fairness_penalty=5.0, group_column="real")
    assert all(torch.equal(plain[k], constant[k]) for k in plain)
    assert not all(torch.equal(plain[k], penalised[k]) for k in plain)
    gaps = LoadedTable(frame.assign(real=frame["group"].where(frame.index > 0)), "p", "x")
    spec = TrainSpec(label="hired", epochs=1, fairness_penalty=1.0, group_column="real")
    with pytest.raises(DataError, match="group column 'real' must be in the data"):
        train(gaps, spec, tmp_path / "gaps", progress=False)


def _tiny(name: str, rows: int) -> LoadedTable:
    from raikit.models.data import load_table

    table = load_table(name)
    frame = table.frame.sample(n=rows, random_state=0).reset_index(drop=True)
    return LoadedTable(frame, table.source, table.sha256, table.spec)


def _weights(path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


@pytest.mark.parametrize(("arch", "dataset"), [("mlp", "arrests"), ("cnn", "digits")])
def test_equal_sample_weights_train_as_no_weights(arch, dataset, tmp_path):
    # A weighted mean under equal weights is the plain mean: the weights reach every
    # architecture's loop, and change nothing they should not.
    table = _tiny(dataset, 120)
    weighted = LoadedTable(table.frame.assign(w=2.5), table.source, table.sha256, table.spec)
    spec = TrainSpec(label=table.spec.label, arch=arch, epochs=2, batch_size=32)
    train(table, spec, tmp_path / "plain", progress=False)
    train(weighted, spec.replace(sample_weight_column="w"), tmp_path / "weighted", progress=False)
    expected, got = _weights(tmp_path / "plain"), _weights(tmp_path / "weighted")
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-5)


def test_fairness_penalty_reaches_a_text_model(tmp_path):
    table = _tiny("identity-text", 120)
    spec = TrainSpec(
        label="sentiment", sensitive=("identity",), arch="rnn", epochs=1, max_length=10
    )
    train(table, spec, tmp_path / "plain", progress=False)
    penalised = spec.replace(fairness_penalty=5.0, group_column="identity")
    checkpoint = train(table, penalised, tmp_path / "penalised", progress=False)
    assert checkpoint.record["hyperparameters"]["fairness_penalty"] == 5.0
    plain, fair = _weights(tmp_path / "plain"), _weights(tmp_path / "penalised")
    assert max(float((plain[n] - fair[n]).abs().max()) for n in plain) > 1e-4
