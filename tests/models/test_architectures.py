"""One contract over every registered architecture: train -> save -> load -> same predictions,
without and with DP-SGD, on tiny data (seconds each)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from raikit.audit.predictor import load_predictor
from raikit.models.architectures import list_architectures
from raikit.models.data import LoadedTable, load_table
from raikit.models.inference import load_model
from raikit.models.privacy import PrivacySpec
from raikit.models.train import TrainSpec, train

# architecture -> (dataset, rows, extra TrainSpec fields); None: not trained by `rai train`.
CASES = {
    "mlp": ("arrests", 160, {}),
    "cnn": ("digits", 120, {}),
    "rnn": ("identity-text", 160, {"max_length": 10}),
    "transformer": ("identity-text", 24, {"max_length": 8, "train_layers": 1}),
    "encoder": ("identity-text", 64, {"max_length": 8}),
    "encoder-mlm": None,  # pre-training only: tests/models/test_pretrain.py
}


def test_every_registered_architecture_has_a_case():
    assert sorted(a.name for a in list_architectures()) == sorted(CASES)


def _tiny(name: str, rows: int) -> LoadedTable:
    table = load_table(name)
    frame = table.frame.sample(n=rows, random_state=0).reset_index(drop=True)
    return LoadedTable(frame, table.source, table.sha256, table.spec)


@pytest.mark.parametrize("dp", [False, True], ids=["plain", "dp"])
@pytest.mark.parametrize("arch", [name for name, case in CASES.items() if case])
def test_train_save_load_same_predictions(arch, dp, tmp_path):
    dataset, rows, extra = CASES[arch]
    table = _tiny(dataset, rows)
    privacy = PrivacySpec(noise_multiplier=1.0, accountant="rdp") if dp else None
    spec = TrainSpec(
        label=table.spec.label, arch=arch, epochs=1, batch_size=16, privacy=privacy, **extra
    )
    checkpoint = train(table, spec, tmp_path / "model", progress=False)
    record = json.loads((tmp_path / "model" / "training.json").read_text())
    assert record["privacy"]["differentially_private"] is dp
    if dp:
        privacy_record = record["privacy"]
        n_train = len(checkpoint.split["train"])
        assert privacy_record["n_train_rows"] == n_train
        assert privacy_record["delta"] == pytest.approx(1 / (10 * n_train))
        assert privacy_record["steps"] == privacy_record["history"][0][2] == -(-n_train // 16)
        assert privacy_record["example_level"] is True
        assert privacy_record["epsilon"] > 0
    frame = table.frame.iloc[:7]
    reloaded = load_model(tmp_path / "model").outputs(frame)
    again = load_predictor(tmp_path / "model").predict_proba(frame)
    assert reloaded.shape == (7, len(checkpoint.config["classes"]))
    np.testing.assert_allclose(reloaded.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(reloaded, again)


@pytest.mark.parametrize("dp", [False, True], ids=["plain", "dp"])
def test_sequence_regressor(dp, tmp_path):
    table = _tiny("sine-sequences", 200)
    privacy = PrivacySpec(noise_multiplier=0.8, accountant="rdp") if dp else None
    spec = TrainSpec(label="amplitude", arch="rnn", cell="gru", epochs=2, privacy=privacy)
    checkpoint = train(table, spec, tmp_path / "model", progress=False)
    assert checkpoint.config["task"] == "regression"
    assert checkpoint.record["test"]["rmse"] > 0
    values = load_predictor(tmp_path / "model").predict(table.frame.iloc[:5])
    assert values.shape == (5,)
    np.testing.assert_allclose(values, load_model(tmp_path / "model").outputs(table.frame[:5]))
