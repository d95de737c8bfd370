"""Degenerate classifiers: flagged from the confusion matrix, and when training makes one."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.models.data import LoadedTable
from raikit.models.degenerate import confusion_matrix, degenerate_reason
from raikit.models.train import TrainSpec, train


def test_confusion_matrix_counts_true_by_predicted():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2])
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]


@pytest.mark.parametrize(
    "confusion, expected",
    [
        # Always "no": every positive missed.
        ([[134, 0], [166, 0]], "it predicts 'no' for every row"),
        # 10 of 134 negatives found (balanced accuracy 0.53): nearly constant.
        (
            [[10, 124], [0, 166]],
            "it finds 10 of the 134 rows of class 'no' (7%): it (nearly) always predicts 'yes'",
        ),
        # 14 of 134 found (10.4%): weak, not degenerate.
        ([[14, 120], [0, 166]], None),
        # A class of 9 rows missed entirely says too little to call the model degenerate.
        ([[291, 0], [9, 0]], "it predicts 'no' for every row"),
        ([[289, 2], [9, 0]], None),
        # One true class only: nothing to tell apart.
        ([[300, 0], [0, 0]], None),
    ],
)
def test_degenerate_reason_by_hand(confusion, expected):
    assert degenerate_reason(np.array(confusion), ["no", "yes"]) == expected


def test_a_missed_class_of_a_multiclass_model():
    confusion = np.array([[50, 0, 0], [0, 40, 0], [20, 19, 1]])
    assert degenerate_reason(confusion, ["a", "b", "c"]) == (
        "it finds 1 of the 40 rows of class 'c' (2%)"
    )


def test_a_short_run_that_learns_one_class_is_flagged(tmp_path):
    # 85% of rows are "no" and the features are noise: a short run learns the majority class.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=600),
            "x2": rng.normal(size=600),
            "y": np.where(rng.random(600) < 0.85, "no", "yes"),
        }
    )
    table = LoadedTable(frame, "noise.csv", "noise-sha")
    checkpoint = train(table, TrainSpec(label="y", epochs=3, seed=0), tmp_path / "m")
    reason = checkpoint.record["test"]["degenerate"]
    assert reason == "it predicts 'no' for every row"
    warning = next(n for n in checkpoint.record["notes"] if "degenerate" in n)
    assert warning.startswith("warning: the model is degenerate on the test rows: it predicts")
    assert "trained for only 3 epoch(s): train longer (--epochs)" in warning
    # `rai train` says it once, among the notes it prints.
    table.frame.to_csv(tmp_path / "noise.csv", index=False)
    args = ["train", "--data", tmp_path / "noise.csv", "--label", "y", "--epochs", "3"]
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--out", tmp_path / "cli"]])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning: the model is degenerate") == 1
