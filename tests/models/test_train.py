import json

import numpy as np
import pandas as pd
import pytest

from raikit.audit.predictor import load_predictor
from raikit.models.checkpoint import CHECKPOINT_FILES, OPTIMIZER_FILE, read_checkpoint
from raikit.models.data import load_table
from raikit.models.errors import ConfigError, DataError, ModelError, OutputError
from raikit.models.tensorboard_log import LOG_DIR
from raikit.models.train import TrainSpec, split_indices, train


def test_checkpoint_files_and_record(arrests_model, arrests_table):
    files = sorted(p.name for p in arrests_model.path.iterdir())
    assert files == [
        "config.json",
        "model.safetensors",
        "optimizer.safetensors",
        "split.json",
        "tensorboard",
        "training.json",
    ]
    record = json.loads((arrests_model.path / "training.json").read_text())
    assert record["data"]["sha256"] == arrests_table.sha256
    assert record["data"]["schema"]["label"] == "released"
    assert record["hyperparameters"]["seed"] == 0
    assert len(record["epochs"]) == 4
    assert {"torch", "numpy", "pandas", "python"} <= set(record["packages"])
    assert record["privacy"] == {"differentially_private": False}
    sizes = record["split"]["sizes"]
    assert sum(sizes.values()) == len(arrests_table.frame) == 5226
    assert sizes["test"] == pytest.approx(0.15 * 5226, abs=2)


def test_split_is_disjoint_stratified_and_seeded(arrests_model, arrests_table):
    split = arrests_model.split
    sets = [set(split[name]) for name in ("train", "validation", "test")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    released = (arrests_table.frame["released"] == "Yes").to_numpy()
    overall = released.mean()
    for rows in split.values():
        assert released[rows].mean() == pytest.approx(overall, abs=0.01)
    labels = released.astype(int)
    assert split_indices(labels, TrainSpec(label="x", seed=0)) == split
    assert split_indices(labels, TrainSpec(label="x", seed=1))["test"] != split["test"]


def test_preprocessing_is_fitted_on_training_rows_only(arrests_model, arrests_table):
    preprocessor = arrests_model.config["inputs"]["preprocessor"]
    age = next(c for c in preprocessor["numeric"] if c["name"] == "age")
    train_ages = arrests_table.frame["age"].to_numpy()[arrests_model.split["train"]]
    assert age["median"] == np.median(train_ages)
    assert age["mean"] == pytest.approx(train_ages.mean())


def test_reload_reproduces_recorded_test_accuracy(arrests_model, arrests_table):
    predictor = load_predictor(arrests_model.path)
    test = arrests_table.frame.iloc[arrests_model.split["test"]]
    proba = predictor.predict_proba(test)
    assert proba.shape == (len(test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    accuracy = np.mean(np.array(predictor.classes)[proba.argmax(1)] == test["released"])
    assert accuracy == pytest.approx(arrests_model.record["test"]["accuracy"], abs=1e-6)
    # A second load scores identically: nothing random at prediction time.
    np.testing.assert_array_equal(load_predictor(arrests_model.path).predict_proba(test), proba)


def test_excluded_columns_are_not_features(arrests_table, tmp_path):
    spec = TrainSpec(
        label="released",
        sensitive=("colour", "sex"),
        exclude=("year",),
        exclude_sensitive=True,
        epochs=1,
    )
    checkpoint = train(arrests_table, spec, tmp_path / "m", progress=False)
    assert checkpoint.config["features"] == ["age", "employed", "citizen", "checks"]


def test_builtin_exclusions_apply(tmp_path):
    table = load_table("compas")
    spec = TrainSpec(label="two_year_recid", epochs=1)
    checkpoint = train(table, spec, tmp_path / "m", progress=False)
    for leak in table.spec.exclude_from_features:
        assert leak not in checkpoint.config["features"]


def test_refuses_non_empty_output_unless_forced(arrests_table, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    spec = TrainSpec(label="released", epochs=1)
    with pytest.raises(OutputError, match="is not empty; pass --force"):
        train(arrests_table, spec, out, progress=False)
    # --force replaces a model directory whole; it never deletes files that are not a model's.
    with pytest.raises(OutputError, match=r"files that are not part of a model \(notes.txt\)"):
        train(arrests_table, spec, out, progress=False, force=True)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"
    (out / "notes.txt").unlink()
    (out / "model.safetensors").write_bytes(b"an older model")
    train(arrests_table, spec, out, progress=False, force=True)
    expected = [*CHECKPOINT_FILES, OPTIMIZER_FILE, LOG_DIR]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    assert not list(tmp_path.glob(".m.*"))  # no staging or set-aside directory is left


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"label": "relased"}, DataError, "column 'relased' not found .*did you mean 'released'"),
        ({"label": "released", "arch": "mpl"}, ConfigError, "unknown architecture 'mpl'"),
        ({"label": "released", "epochs": 0}, ConfigError, "epochs must be at least 1"),
    ],
)
def test_bad_training_input(arrests_table, tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        train(arrests_table, TrainSpec(**kwargs), tmp_path / "m", progress=False)
    assert not (tmp_path / "m").exists()


def test_multiclass_training_on_digits(tmp_path):
    table = load_table("digits")
    checkpoint = train(table, TrainSpec(label="digit", epochs=15), tmp_path / "m", progress=False)
    assert checkpoint.config["classes"] == [str(d) for d in range(10)]
    assert checkpoint.record["test"]["accuracy"] > 0.9


def test_tampered_checkpoint_is_refused(arrests_model, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in (p for p in arrests_model.path.iterdir() if p.is_file()):
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="cannot load weights"):
        load_predictor(copy)
    (copy / "config.json").write_text(json.dumps({"format": "pickle"}))
    with pytest.raises(ModelError, match="is not a raikit checkpoint config"):
        read_checkpoint(copy)


def test_preprocessing_scores_raw_rows_with_missing_values(arrests_model):
    predictor = load_predictor(arrests_model.path)
    row = pd.DataFrame(
        {
            "colour": [None],
            "year": [2000],
            "age": [np.nan],
            "sex": ["Male"],
            "employed": ["Yes"],
            "citizen": ["Yes"],
            "checks": [1],
        }
    )
    assert predictor.predict_proba(row).shape == (1, 2)


def test_float_and_int_labels_name_the_same_classes(tmp_path):
    from raikit.audit.runner import AuditConfig, run_audit
    from raikit.models.data import LoadedTable

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "g": ["a", "b", "c"] * 100})
    frame["y"] = (frame["x"] > 0).astype(float)  # 0.0 / 1.0, as a CSV with NaNs reads back
    table = LoadedTable(frame=frame, source="floats.csv", sha256="f" * 64)
    checkpoint = train(table, TrainSpec(label="y", epochs=2), tmp_path / "m", progress=False)
    assert checkpoint.config["classes"] == ["0", "1"]
    ints = LoadedTable(
        frame=frame.assign(y=frame["y"].astype(int)), source="ints.csv", sha256="e" * 64
    )
    config = AuditConfig(label="y", sensitive=("g",), n_bootstrap=100)
    evidence = run_audit(ints, config, load_predictor(checkpoint.path))
    assert evidence.data.n_rows_audited == 300 and evidence.data.positive_label == "1"


@pytest.mark.parametrize(
    "mitigation",
    [{"fairness_penalty": 1.0, "group_column": "sex"}, {"sample_weight_column": "w"}],
)
def test_mitigation_options_are_refused_with_dp(mitigation):
    from raikit.models.privacy import PrivacySpec

    with pytest.raises(ConfigError, match="cannot be combined with DP-SGD"):
        TrainSpec(
            label="released",
            sensitive=("sex",),
            privacy=PrivacySpec(noise_multiplier=1.0),
            **mitigation,
        )
