"""TensorBoard logs hold each epoch's figures of training.json; DP runs log clipping too."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.models import privacy as privacy_module
from raikit.models.data import LoadedTable, load_table
from raikit.models.loop import DistributedContext, clipping_summary
from raikit.models.privacy import (
    FAST_ENGINE,
    OPACUS_ENGINE,
    PrivacySpec,
    PrivateTraining,
    epsilon_from_history,
)
from raikit.models.train import TrainSpec, train

PLAIN_TAGS = {"loss/train", "loss/validation", "accuracy/train", "accuracy/validation"}
PLAIN_TAGS |= {"learning_rate"}
DP_TAGS = {"privacy/epsilon", "privacy/clipped_fraction"}
DP_TAGS |= {"privacy/grad_norm_p10", "privacy/grad_norm_p50", "privacy/grad_norm_p90"}
#: The tag of each epoch-entry field, spelled out here rather than read from raikit.
FIELD_OF_TAG = {
    "loss/train": "train_loss",
    "loss/validation": "val_loss",
    "accuracy/train": "train_accuracy",
    "accuracy/validation": "val_accuracy",
    "learning_rate": "learning_rate",
    "privacy/epsilon": "epsilon",
    "privacy/clipped_fraction": "clipped_fraction",
    "privacy/grad_norm_p10": "grad_norm_p10",
    "privacy/grad_norm_p50": "grad_norm_p50",
    "privacy/grad_norm_p90": "grad_norm_p90",
}


@pytest.fixture(scope="module")
def small_arrests():
    table = load_table("arrests")
    frame = table.frame.sample(n=200, random_state=1).reset_index(drop=True)
    return LoadedTable(frame, table.source, table.sha256, table.spec)


def _spec(epochs=2, **fields):
    return TrainSpec(
        label="released", hidden=(8,), epochs=epochs, batch_size=32, patience=10, **fields
    )


def _scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def _as_logged(value: float) -> float:
    return float(np.float32(value))  # TensorBoard stores float32


def _assert_log_is_the_record(log_dir, record) -> None:
    scalars = _scalars(log_dir)
    for tag, points in scalars.items():
        field = FIELD_OF_TAG[tag]
        assert points == [(e["epoch"], _as_logged(e[field])) for e in record["epochs"]], tag


@pytest.mark.parametrize("private", [False, True], ids=["plain", "dp"])
def test_every_epoch_figure_is_logged_as_recorded(small_arrests, tmp_path, private):
    privacy = PrivacySpec(noise_multiplier=1.0, accountant="rdp") if private else None
    checkpoint = train(small_arrests, _spec(privacy=privacy), tmp_path / "m", progress=False)
    record = json.loads((tmp_path / "m" / "training.json").read_text())
    scalars = _scalars(tmp_path / "m" / "tensorboard")
    assert set(scalars) == (PLAIN_TAGS | DP_TAGS if private else PLAIN_TAGS)
    _assert_log_is_the_record(tmp_path / "m" / "tensorboard", record)
    assert [step for step, _ in scalars["loss/train"]] == [1, 2]
    assert [v for _, v in scalars["learning_rate"]] == [_as_logged(1e-3)] * 2
    # Where logs go is not part of the recipe a shadow model is rebuilt from.
    assert "tensorboard" not in record["hyperparameters"]
    if not private:
        return
    # ε after each epoch, from the recorded mechanism alone: epoch e took e * steps_per_epoch.
    dp = checkpoint.record["privacy"]
    steps_per_epoch = round(1 / dp["sample_rate"])
    for step, value in scalars["privacy/epsilon"]:
        history = [[dp["noise_multiplier"], dp["sample_rate"], step * steps_per_epoch]]
        assert value == pytest.approx(epsilon_from_history(history, dp["delta"], "rdp"), 1e-6)
    for epoch in record["epochs"]:
        assert 0 <= epoch["clipped_fraction"] <= 1
        assert 0 < epoch["grad_norm_p10"] <= epoch["grad_norm_p50"] <= epoch["grad_norm_p90"]


def test_a_tiny_clipping_norm_clips_every_sample(small_arrests, tmp_path):
    privacy = PrivacySpec(noise_multiplier=1.0, max_grad_norm=1e-6, accountant="rdp")
    record = train(small_arrests, _spec(privacy=privacy), tmp_path / "m", progress=False).record
    assert [e["clipped_fraction"] for e in record["epochs"]] == [1.0, 1.0]


def test_clipping_summary_by_hand():
    norms = [torch.tensor([0.5, 2.0]), torch.tensor([1.5, 3.0])]
    summary = clipping_summary(norms, 1.0, DistributedContext())
    # Three of four norms exceed C = 1; linear quantiles of [0.5, 1.5, 2, 3]: positions
    # 0.3, 1.5 and 2.7 between the sorted values.
    assert summary == {
        "clipped_fraction": 0.75,
        "grad_norm_p10": 0.8,
        "grad_norm_p50": 1.75,
        "grad_norm_p90": 2.7,
    }
    assert set(clipping_summary([], 1.0, DistributedContext()).values()) == {None}


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("engine", [FAST_ENGINE, OPACUS_ENGINE])
def test_last_step_norms_are_each_samples_gradient_norm(engine, monkeypatch):
    from torch.utils.data import DataLoader, TensorDataset

    monkeypatch.setattr(privacy_module, "choose_engine", lambda module: (engine, None))

    torch.manual_seed(0)
    x, y = torch.randn(6, 3), torch.tensor([0, 1, 1, 0, 1, 0])
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    reference = copy.deepcopy(module)  # one sample at a time through a plain copy
    expected = []
    for row in range(6):
        loss = torch.nn.functional.cross_entropy(reference(x[row : row + 1]), y[row : row + 1])
        grads = torch.autograd.grad(loss, list(reference.parameters()))
        expected.append(float(torch.sqrt(sum((g**2).sum() for g in grads))))
    privacy = PrivateTraining(PrivacySpec(noise_multiplier=1.0), 6, 6, 1)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(x, y), batch_size=6)
    model, optimizer, _ = privacy.attach(module, optimizer, loader)
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    assert privacy.engine_name == engine
    assert privacy.last_step_norms().tolist() == pytest.approx(expected, rel=1e-5)


def test_resumed_runs_continue_the_log_without_repeating_a_step(small_arrests, tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    first = train(small_arrests, _spec(), tmp_path / "m", progress=False)
    # A crashed run logged epoch 3 and never saved its checkpoint.
    with SummaryWriter(str(tmp_path / "m" / "tensorboard")) as crashed:
        crashed.add_scalar("loss/train", 99.0, global_step=3)
    resume = str(first.path)
    record = train(small_arrests, _spec(1, resume=resume), first.path, progress=False).record
    assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3]
    _assert_log_is_the_record(tmp_path / "m" / "tensorboard", record)
    # Resumed into another directory: the log comes along and goes on there.
    elsewhere = train(small_arrests, _spec(1, resume=resume), tmp_path / "n", progress=False)
    assert [e["epoch"] for e in elsewhere.record["epochs"]] == [1, 2, 3, 4]
    _assert_log_is_the_record(tmp_path / "n" / "tensorboard", elsewhere.record)


@pytest.fixture(scope="module")
def arrests_csv(small_arrests, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "arrests.csv"
    small_arrests.frame.to_csv(path, index=False)
    return path


def _cli(arrests_csv, out, *options):
    args = ["train", "--data", str(arrests_csv), "--label", "released", "--hidden", "8"]
    return CliRunner().invoke(app, [*args, "--epochs", "2", "--out", str(out), "--quiet", *options])


def test_cli_writes_the_log_where_asked_or_not_at_all(arrests_csv, tmp_path):
    result = _cli(arrests_csv, tmp_path / "off", "--no-tensorboard")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "off").iterdir()) == [
        "config.json",
        "model.safetensors",
        "optimizer.safetensors",
        "split.json",
        "training.json",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["off"]

    result = _cli(arrests_csv, tmp_path / "m", "--tensorboard", str(tmp_path / "runs" / "a"))
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "m" / "tensorboard").exists()
    record = json.loads((tmp_path / "m" / "training.json").read_text())
    _assert_log_is_the_record(tmp_path / "runs" / "a", record)

    result = _cli(arrests_csv, tmp_path / "x", "--tensorboard", "t", "--no-tensorboard")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --tensorboard DIR and --no-tensorboard exclude each other"
    ]
    assert not (tmp_path / "x").exists()
