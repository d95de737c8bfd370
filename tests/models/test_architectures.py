"""One contract over every registered architecture: train -> save -> load -> same predictions,
without and with DP-SGD, on tiny data (seconds each), and one checkpoint format for all."""

from __future__ import annotations

import json

import numpy as np
import pytest

from raikit.audit.predictor import load_predictor
from raikit.models.architectures import list_architectures
from raikit.models.checkpoint import CONFIG_KEYS
from raikit.models.data import LoadedTable, load_table
from raikit.models.errors import ConfigError
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
    "encoder-mlm": None,  # pre-training only (`rai pretrain`): test_pretrain_writes_the_format
}
# Trained privately by raikit's fast engine; the others fall back to Opacus' hooks.
FAST_ENGINE_ARCHITECTURES = {"mlp", "cnn", "rnn", "transformer", "encoder"}
# The layout of every `rai train` record, written out here rather than read from the code.
RECORD_KEYS = [
    "created_at",
    "data",
    "split",
    "hyperparameters",
    "epochs",
    "best_epoch",
    "model_selection",
    "test",
    "privacy",
    "device",
    "distributed",
    "resumed_from",
    "initialized_from",
    "distillation",
    "notes",
    "packages",
]
CONFIG_LAYOUT = [
    "format",
    "format_version",
    "architecture",
    "arch_params",
    "task",
    "label",
    "classes",
    "positive_label",
    "features",
    "inputs",
    "dp_fixed",
    "compression",
]


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
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    # One format: the MLP's files are laid out exactly like every other architecture's.
    assert list(config) == CONFIG_LAYOUT == list(CONFIG_KEYS)
    assert list(record) == RECORD_KEYS
    assert config["format_version"] == 2 and config["task"] == "classification"
    assert (
        config["features"] == config["inputs"]["features"] == record["data"]["schema"]["features"]
    )
    assert record["model_selection"] == ("last epoch (DP)" if dp else "best validation loss")
    assert list(record["epochs"][0])[:4] == ["epoch", "train_loss", "val_loss", "val_accuracy"]
    assert record["privacy"]["differentially_private"] is dp
    if dp:
        privacy_record = record["privacy"]
        n_train = len(checkpoint.split["train"])
        assert privacy_record["n_train_rows"] == n_train
        assert privacy_record["delta"] == pytest.approx(1 / (10 * n_train))
        assert privacy_record["steps"] == privacy_record["history"][0][2] == -(-n_train // 16)
        assert privacy_record["example_level"] is True
        assert privacy_record["epsilon"] > 0
        fast = arch in FAST_ENGINE_ARCHITECTURES
        assert privacy_record["engine"] == ("raikit-bookkeeping" if fast else "opacus-hooks")
        assert (privacy_record["engine_fallback_reason"] is None) is fast
    frame = table.frame.iloc[:7]
    reloaded = load_model(tmp_path / "model").outputs(frame)
    again = load_predictor(tmp_path / "model").predict_proba(frame)
    assert reloaded.shape == (7, len(checkpoint.config["classes"]))
    np.testing.assert_allclose(reloaded.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(reloaded, again)


@pytest.mark.parametrize("dp", [False, True], ids=["plain", "dp"])
@pytest.mark.parametrize(("cell", "plain_layer"), [("gru", "GRU"), ("rnn", "RNN")])
def test_sequence_regressor(cell, plain_layer, dp, tmp_path):
    table = _tiny("sine-sequences", 200)
    privacy = PrivacySpec(noise_multiplier=0.8, accountant="rdp") if dp else None
    spec = TrainSpec(label="amplitude", arch="rnn", cell=cell, epochs=2, privacy=privacy)
    checkpoint = train(table, spec, tmp_path / "model", progress=False)
    assert checkpoint.config["task"] == "regression"
    assert checkpoint.record["test"]["rmse"] > 0
    values = load_predictor(tmp_path / "model").predict(table.frame.iloc[:5])
    assert values.shape == (5,)
    reloaded = load_model(tmp_path / "model")
    np.testing.assert_allclose(values, reloaded.outputs(table.frame[:5]))
    layer = "BatchedRecurrent" if dp else plain_layer
    assert type(reloaded.module.rnn).__name__ == layer
    dp_notes = [n for n in checkpoint.record["notes"] if n.startswith("recurrent layer")]
    assert dp_notes == (
        [f"recurrent layer: raikit {layer} (per-example gradients for DP-SGD)"] if dp else []
    )
    if dp:
        assert checkpoint.record["privacy"]["engine"] == "raikit-bookkeeping"


def test_pretrain_writes_the_format_and_train_refuses_it(tmp_path):
    from raikit.models.pretrain import pretrain

    table = _tiny("identity-text", 40)
    checkpoint = pretrain(
        table, "text", tmp_path / "mlm", epochs=1, max_length=8, vocab_size=200, progress=False
    )
    assert list(checkpoint.config) == CONFIG_LAYOUT
    assert checkpoint.config["task"] == "masked-language-model"
    with pytest.raises(ConfigError, match="'encoder-mlm' is not trained by `rai train`"):
        train(table, TrainSpec(label="sentiment", arch="encoder-mlm"), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_tabular_regressor(tmp_path):
    # A numeric label with --task regression: the MLP is a regressor like the sequence RNN.
    table = _tiny("sine-sequences", 200)
    spec = TrainSpec(label="amplitude", task="regression", epochs=3, hidden=(8,))
    checkpoint = train(table, spec, tmp_path / "model", progress=False)
    assert checkpoint.config["task"] == "regression" and checkpoint.config["classes"] == []
    assert checkpoint.config["inputs"]["kind"] == "tabular"
    assert checkpoint.record["split"]["stratified_on"] is None
    values = load_predictor(tmp_path / "model").predict(table.frame.iloc[:5])
    np.testing.assert_allclose(values, load_model(tmp_path / "model").outputs(table.frame[:5]))
    rows = checkpoint.split["test"]
    rmse = np.sqrt(
        np.mean(
            (
                load_model(tmp_path / "model").outputs(table.frame.iloc[rows])
                - table.frame["amplitude"].to_numpy()[rows]
            )
            ** 2
        )
    )
    assert rmse == pytest.approx(checkpoint.record["test"]["rmse"], rel=1e-4)
