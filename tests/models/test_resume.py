"""Resuming a private run continues its accountant; a spent budget stops training."""

from __future__ import annotations

import pytest
import torch

from raikit.models.data import LoadedTable, load_table
from raikit.models.errors import ConfigError
from raikit.models.privacy import PrivacySpec, epsilon_from_history
from raikit.models.train import TrainSpec, train


@pytest.fixture(scope="module")
def small_arrests():
    table = load_table("arrests")
    frame = table.frame.sample(n=200, random_state=1).reset_index(drop=True)
    return LoadedTable(frame, table.source, table.sha256, table.spec)


def _spec(epochs, resume=None, **privacy):
    options = {"noise_multiplier": 1.2, "accountant": "rdp", **privacy}
    return TrainSpec(
        label="released",
        epochs=epochs,
        batch_size=32,
        resume=resume,
        privacy=PrivacySpec(**options),
    )


def test_two_plus_two_epochs_spend_what_four_do(small_arrests, tmp_path):
    straight = train(small_arrests, _spec(4), tmp_path / "four", progress=False)
    first = train(small_arrests, _spec(2), tmp_path / "two", progress=False)
    resumed = train(
        small_arrests, _spec(2, resume=str(tmp_path / "two")), tmp_path / "two", progress=False
    )
    assert resumed.record["privacy"]["steps"] == straight.record["privacy"]["steps"]
    assert resumed.record["privacy"]["epsilon"] == straight.record["privacy"]["epsilon"]
    assert resumed.record["privacy"]["epsilon"] > first.record["privacy"]["epsilon"]
    assert [e["epoch"] for e in resumed.record["epochs"]] == [1, 2, 3, 4]
    assert resumed.split == first.split
    # The record's figure is reproducible from its own history, independently of training.
    privacy = resumed.record["privacy"]
    assert privacy["epsilon"] == pytest.approx(
        epsilon_from_history(privacy["history"], privacy["delta"], "rdp"), abs=1e-6
    )


def test_training_stops_when_the_budget_is_spent(small_arrests, tmp_path):
    n_train, batch = 140, 32  # 70% of 200 rows
    steps, rate, delta = -(-n_train // batch), 1 / -(-n_train // batch), 1 / (10 * n_train)
    three_epochs = epsilon_from_history([[1.2, rate, 3 * steps]], delta, "rdp")
    four_epochs = epsilon_from_history([[1.2, rate, 4 * steps]], delta, "rdp")
    budget = (three_epochs + four_epochs) / 2
    checkpoint = train(
        small_arrests, _spec(30, target_epsilon=budget), tmp_path / "m", progress=False
    )
    privacy = checkpoint.record["privacy"]
    assert privacy["budget_spent"] is True
    assert privacy["epochs"] == 3
    assert privacy["epsilon"] == pytest.approx(three_epochs, abs=1e-6)
    assert any("privacy budget spent" in note for note in checkpoint.record["notes"])


def test_resume_refuses_to_mix_private_and_plain(small_arrests, tmp_path):
    train(small_arrests, _spec(1), tmp_path / "dp", progress=False)
    plain = TrainSpec(label="released", epochs=1, resume=str(tmp_path / "dp"))
    with pytest.raises(ConfigError, match="trained with DP; pass --dp"):
        train(small_arrests, plain, tmp_path / "dp", progress=False)


def test_target_epsilon_chooses_the_noise(small_arrests, tmp_path):
    spec = TrainSpec(
        label="released",
        epochs=3,
        batch_size=32,
        privacy=PrivacySpec(target_epsilon=2.0, accountant="rdp"),
    )
    privacy = train(small_arrests, spec, tmp_path / "m", progress=False).record["privacy"]
    assert privacy["epochs"] == 3 and not privacy["budget_spent"]
    assert 2.0 - 0.02 <= privacy["epsilon"] <= 2.0


def test_delta_of_one_over_n_is_refused(small_arrests, tmp_path):
    spec = _spec(1, delta=1 / 100)
    with pytest.raises(ConfigError, match="is at least 1/n"):
        train(small_arrests, spec, tmp_path / "m", progress=False)


@pytest.fixture(scope="module")
def small_digits():
    table = load_table("digits")
    frame = table.frame.sample(n=240, random_state=0).reset_index(drop=True)
    return LoadedTable(frame, table.source, table.sha256, table.spec)


def _cnn(epochs, resume=None):
    return TrainSpec(
        label="digit", arch="cnn", epochs=epochs, batch_size=32, patience=10, resume=resume
    )


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_resumed_plain_run_ends_with_the_weights_of_an_uninterrupted_one(small_digits, tmp_path):
    straight = train(small_digits, _cnn(4), tmp_path / "four", progress=False)
    first = train(small_digits, _cnn(2), tmp_path / "two", progress=False)
    assert (tmp_path / "two" / "optimizer.safetensors").is_file()
    resumed = train(
        small_digits, _cnn(2, resume=str(tmp_path / "two")), tmp_path / "two+2", progress=False
    )
    # Precondition of the comparison: both runs keep their last epoch (validation loss fell).
    assert first.record["best_epoch"] == 2
    assert straight.record["best_epoch"] == resumed.record["best_epoch"] == 4
    expected, got = _weights(tmp_path / "four"), _weights(tmp_path / "two+2")
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)

    # Without the saved moments AdamW restarts, the weights drift, and the record says so.
    (tmp_path / "two" / "optimizer.safetensors").unlink()
    restarted = train(
        small_digits, _cnn(2, resume=str(tmp_path / "two")), tmp_path / "cold", progress=False
    )
    assert any("optimizer state" in note for note in restarted.record["notes"])
    cold = _weights(tmp_path / "cold")
    assert max(float((cold[n] - expected[n]).abs().max()) for n in expected) > 1e-4


def _epsilon_by_stepping(stretches, delta):
    """ε of ``[(σ, q, steps)]`` from Opacus' RDP accountant stepped one step at a time."""
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    for sigma, rate, steps in stretches:
        for _ in range(steps):
            accountant.step(noise_multiplier=sigma, sample_rate=rate)
    return accountant.get_epsilon(delta=delta)


def test_resume_with_another_batch_size_records_both_stretches(small_arrests, tmp_path):
    # 140 training rows: batch 32 -> 5 steps of q = 1/5 per epoch; batch 64 -> 3 of q = 1/3.
    train(small_arrests, _spec(2), tmp_path / "m", progress=False)
    resumed = _spec(2, resume=str(tmp_path / "m")).replace(batch_size=64)
    privacy = train(small_arrests, resumed, tmp_path / "m", progress=False).record["privacy"]
    delta = 1 / 1400
    expected = _epsilon_by_stepping([(1.2, 1 / 5, 10), (1.2, 1 / 3, 6)], delta)
    assert privacy["epsilon"] == pytest.approx(expected, abs=1e-6)
    assert privacy["history"] == [[1.2, 1 / 5, 10], [1.2, 1 / 3, 6]]
    assert privacy["steps"] == 16 and privacy["noise_multiplier"] == 1.2
    # No single rate describes the run, so none is claimed (q = 1/3 for 16 steps overstates ε).
    assert privacy["sample_rate"] is None and privacy["expected_batch_size"] is None
    assert _epsilon_by_stepping([(1.2, 1 / 3, 16)], delta) > expected + 0.1
    # The audit reads such a record and finds its epsilon consistent with its history.
    from raikit.audit.predictor import load_predictor
    from raikit.audit.runner import describe_model

    audited = describe_model(load_predictor(tmp_path / "m")).dp
    assert audited.epsilon_recomputed == pytest.approx(expected, abs=1e-6)
    assert audited.epsilon_matches() is True


def test_resume_with_another_noise_multiplier_uses_it(small_arrests, tmp_path):
    train(small_arrests, _spec(2), tmp_path / "m", progress=False)
    resumed = _spec(2, resume=str(tmp_path / "m"), noise_multiplier=3.0)
    privacy = train(small_arrests, resumed, tmp_path / "m", progress=False).record["privacy"]
    expected = _epsilon_by_stepping([(1.2, 1 / 5, 10), (3.0, 1 / 5, 10)], 1 / 1400)
    assert privacy["history"] == [[1.2, 1 / 5, 10], [3.0, 1 / 5, 10]]
    assert privacy["epsilon"] == pytest.approx(expected, abs=1e-6)
    assert privacy["noise_multiplier"] is None and privacy["sample_rate"] == 1 / 5
    # Without a noise multiplier (a budget only), the last stretch's sigma continues.
    budget_only = _spec(1, resume=str(tmp_path / "m"), noise_multiplier=None, target_epsilon=50)
    privacy = train(small_arrests, budget_only, tmp_path / "m", progress=False).record["privacy"]
    assert privacy["history"] == [[1.2, 1 / 5, 10], [3.0, 1 / 5, 15]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--accountant", "prv"], "accounted with --accountant rdp; this run gives prv"),
        (
            ["--accountant", "rdp", "--delta", "0.0001"],
            "guarantee is at --delta 0.000714286; this run gives 0.0001",
        ),
    ],
)
def test_resume_refuses_another_accountant_or_delta(small_arrests, tmp_path, change, message):
    from typer.testing import CliRunner

    from raikit.audit.cli import app

    data, out = tmp_path / "arrests.csv", tmp_path / "m"
    small_arrests.frame.to_csv(data, index=False)
    args = ["train", "--data", str(data), "--label", "released", "--out", str(out), "--quiet"]
    args += ["--epochs", "1", "--batch-size", "32", "--dp", "--noise-multiplier", "1.2"]
    first = CliRunner().invoke(app, [*args, "--accountant", "rdp"])
    assert first.exit_code == 0, first.output
    # The same settings resume (the default delta is the same 1/(10 n) on the same split).
    again = CliRunner().invoke(app, [*args, "--accountant", "rdp", "--resume", str(out)])
    assert again.exit_code == 0, again.output
    before = (out / "training.json").read_text()
    refused = CliRunner().invoke(app, [*args, *change, "--resume", str(out)])
    lines = refused.output.strip().splitlines()
    assert refused.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert message in lines[0]
    assert (out / "training.json").read_text() == before
