"""Checkpoint format: checkpoints of format 1 (before one training path) still load and resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from raikit.audit.predictor import load_predictor
from raikit.models.checkpoint import CONFIG_KEYS, read_checkpoint
from raikit.models.data import LoadedTable, frame_sha256, load_table
from raikit.models.errors import ModelError
from raikit.models.train import TrainSpec, train

# Written by the former plain MLP loop: TrainSpec(label="released", sensitive=("colour",),
# epochs=1, hidden=(4,)) on the first 60 rows of carData::Arrests. Its config.json has no
# `inputs`, `task` or `dp_fixed` and keeps the preprocessor at the top.
FORMAT_1_MLP = Path(__file__).parent / "data" / "mlp-format-1"
# What that code's own predictor gave for the first 5 rows of Arrests, before it was removed.
FORMAT_1_PROBABILITIES = [
    [0.6174703240394592, 0.38252967596054077],
    [0.7201715707778931, 0.2798284590244293],
    [0.617298424243927, 0.3827015459537506],
    [0.607454240322113, 0.3925457000732422],
    [0.736520528793335, 0.26347947120666504],
]


def _first_60_rows() -> LoadedTable:
    table = load_table("arrests")
    frame = table.frame.iloc[:60].reset_index(drop=True)
    return LoadedTable(frame, table.source + " (first 60 rows)", frame_sha256(frame), table.spec)


def _by_hand(frame, config: dict, weights: dict) -> np.ndarray:
    """The MLP's probabilities from the JSON preprocessing and raw weights, in numpy."""
    preprocessor = config["preprocessor"]
    columns = []
    for column in preprocessor["numeric"]:
        values = frame[column["name"]].astype(float).fillna(column["median"]).to_numpy()
        columns.append((values - column["mean"]) / column["std"])
    for column in preprocessor["categorical"]:
        values = frame[column["name"]].astype(str).to_numpy()
        columns += [(values == category).astype(float) for category in column["categories"]]
    x = np.column_stack(columns)
    hidden = np.maximum(x @ weights["0.weight"].T + weights["0.bias"], 0)
    logits = hidden @ weights["3.weight"].T + weights["3.bias"]
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_format_1_mlp_loads_in_the_current_layout_and_scores_as_before():
    raw_config = json.loads((FORMAT_1_MLP / "config.json").read_text())
    assert raw_config["format_version"] == 1 and "inputs" not in raw_config
    checkpoint = read_checkpoint(FORMAT_1_MLP)
    assert tuple(checkpoint.config) == CONFIG_KEYS
    assert checkpoint.config["inputs"] == {
        "kind": "tabular",
        "features": raw_config["features"],
        "preprocessor": raw_config["preprocessor"],
    }
    assert checkpoint.config["task"] == "classification" and checkpoint.config["dp_fixed"] is False
    assert checkpoint.config["positive_label"] == raw_config["positive_label"] == "Yes"

    rows = load_table("arrests").frame.iloc[:5]
    proba = load_predictor(FORMAT_1_MLP).predict_proba(rows)
    np.testing.assert_allclose(proba, FORMAT_1_PROBABILITIES, atol=1e-6)
    weights = load_file(str(FORMAT_1_MLP / "model.safetensors"))
    np.testing.assert_allclose(proba, _by_hand(rows, raw_config, weights), atol=1e-5)


def test_format_1_mlp_resumes_into_the_current_format(tmp_path):
    spec = TrainSpec(
        label="released", sensitive=("colour",), epochs=1, hidden=(4,), resume=str(FORMAT_1_MLP)
    )
    resumed = train(_first_60_rows(), spec, tmp_path / "m", progress=False)
    assert [e["epoch"] for e in resumed.record["epochs"]] == [1, 2]
    assert resumed.split == read_checkpoint(FORMAT_1_MLP).split
    assert any("optimizer state" in note for note in resumed.record["notes"])
    on_disk = json.loads((tmp_path / "m" / "config.json").read_text())
    assert on_disk["format_version"] == 2 and tuple(on_disk) == CONFIG_KEYS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"preprocessor": None}, "has neither inputs nor a preprocessor; retrain it with `rai "),
        ({"classes": None}, "is incomplete \\('classes' missing\\); retrain it with `rai train`"),
        ({"format_version": 3}, "is not a raikit checkpoint config \\(format .* version 3\\)"),
    ],
)
def test_unreadable_configs_are_one_line_errors(tmp_path, change, message):
    copy = tmp_path / "copy"
    shutil.copytree(FORMAT_1_MLP, copy)
    config = json.loads((copy / "config.json").read_text())
    for key, value in change.items():
        if value is None:
            del config[key]
        else:
            config[key] = value
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=message) as error:
        load_predictor(copy)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("hidden", "dtype", "message"),
    [
        # 2**17 x 2**17 floats would be 64 GiB: refused from the weight file's header instead.
        (
            [2**17, 2**17],
            np.float32,
            "tensor '0.bias' is shape (4,) float32 in the weight file, shape (131072,) float32 "
            "in the model it builds",
        ),
        ([-4], np.float32, "is incomplete or invalid: Trying to create tensor with negative"),
        (
            [4],
            np.float64,
            "tensor '0.bias' is shape (4,) float64 in the weight file, shape (4,) float32 in",
        ),
    ],
)
def test_config_and_weights_are_checked_before_the_model_is_built(tmp_path, hidden, dtype, message):
    from safetensors.numpy import save_file

    copy = tmp_path / "copy"
    shutil.copytree(FORMAT_1_MLP, copy)
    config = json.loads((copy / "config.json").read_text())
    config["arch_params"]["hidden"] = hidden
    (copy / "config.json").write_text(json.dumps(config))
    weights = load_file(str(copy / "model.safetensors"))
    save_file({k: v.astype(dtype) for k, v in weights.items()}, str(copy / "model.safetensors"))
    with pytest.raises(ModelError) as error:
        load_predictor(copy)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
