"""End to end through the CLI: image files, torchrun + DP, pretrain then fine-tune."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from raikit.audit.cli import app
from raikit.models.images import load_image_table

RAI = str(Path(sys.executable).with_name("rai"))


def _logged(log_dir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of a TensorBoard scalar, read back from the event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


@pytest.fixture(scope="module")
def image_npz(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (120, 8, 8)).astype("uint8")
    labels = np.where(images.mean(axis=(1, 2)) > 127, "bright", "dark")
    path = tmp_path_factory.mktemp("images") / "images.npz"
    np.savez(path, x=images, y=labels)
    return path


def test_cnn_on_npz_through_the_cli(image_npz, tmp_path):
    out = tmp_path / "cnn"
    args = ["train", "--data", str(image_npz), "--label", "label", "--arch", "cnn"]
    args += ["--out", str(out), "--epochs", "1", "--dp", "--noise-multiplier", "1.0"]
    result = CliRunner().invoke(app, [*args, "--accountant", "rdp", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "clipping by raikit-bookkeeping)" in result.output
    record = json.loads((out / "training.json").read_text())
    assert record["privacy"]["accountant"] == "rdp"
    assert json.loads((out / "config.json").read_text())["inputs"]["shape"] == [1, 8, 8]


def test_delta_too_large_is_one_line_error(image_npz, tmp_path):
    args = ["train", "--data", str(image_npz), "--label", "label", "--arch", "cnn", "--out"]
    args += [str(tmp_path / "m"), "--dp", "--noise-multiplier", "1", "--delta", "0.5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "delta 0.5 is at least 1/n" in result.output


def test_image_folder_loads_as_pixel_table(tmp_path):
    from PIL import Image

    for name, value in (("cat", 10), ("dog", 200)):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.fromarray(np.full((6, 5), value + i, dtype="uint8")).save(
                tmp_path / name / f"{i}.png"
            )
    table = load_image_table(tmp_path)
    assert table.frame.shape == (6, 31)
    assert table.frame.attrs["image_shape"] == [1, 6, 5]
    assert sorted(table.frame["label"].unique()) == ["cat", "dog"]


@pytest.mark.slow
def test_torchrun_two_processes_same_epsilon_as_one(image_npz, tmp_path):
    common = ["train", "--data", str(image_npz), "--label", "label", "--arch", "cnn"]
    common += ["--epochs", "2", "--batch-size", "16", "--dp", "--noise-multiplier", "1.0"]
    common += ["--accountant", "rdp", "--device", "cpu", "--quiet"]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    launch += ["--master_port=29541", RAI, *common, "--distributed", "--out", str(tmp_path / "ddp")]
    done = subprocess.run(launch, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    single = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "one")])
    assert single.exit_code == 0, single.output
    ddp = json.loads((tmp_path / "ddp" / "training.json").read_text())
    one = json.loads((tmp_path / "one" / "training.json").read_text())
    assert ddp["distributed"] == {"world_size": 2}
    assert ddp["privacy"]["epsilon"] == one["privacy"]["epsilon"]
    assert ddp["privacy"]["sample_rate"] == one["privacy"]["sample_rate"]
    assert ddp["privacy"]["steps"] == one["privacy"]["steps"]
    assert ddp["privacy"]["engine"] == one["privacy"]["engine"] == "raikit-bookkeeping"
    assert ddp["privacy"]["engine_fallback_reason"] is None
    # Rank 0 alone logs, the figures of the record it writes.
    logs = tmp_path / "ddp" / "tensorboard"
    assert len(list(logs.glob("events.out.tfevents.*"))) == 1
    for tag, field in (
        ("privacy/clipped_fraction", "clipped_fraction"),
        ("loss/train", "train_loss"),
    ):
        expected = [(e["epoch"], float(np.float32(e[field]))) for e in ddp["epochs"]]
        assert _logged(logs, tag) == expected


@pytest.mark.slow
def test_torchrun_two_processes_without_dp_learns_the_task(tmp_path):
    rng = np.random.default_rng(1)
    bright = rng.integers(0, 2, 160).astype(bool)
    images = np.where(bright[:, None, None], 150, 0) + rng.integers(0, 100, (160, 8, 8))
    np.savez(tmp_path / "split.npz", x=images.astype("uint8"), y=np.where(bright, "b", "d"))
    args = ["train", "--data", str(tmp_path / "split.npz"), "--label", "label", "--arch", "cnn"]
    args += ["--epochs", "6", "--batch-size", "16", "--device", "cpu", "--quiet", "--distributed"]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    launch += ["--master_port=29542", RAI, *args, "--out", str(tmp_path / "ddp")]
    done = subprocess.run(launch, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "ddp" / "training.json").read_text())
    assert record["distributed"] == {"world_size": 2}
    assert record["privacy"] == {"differentially_private": False}
    # Brightness decides the label: a model whose replicas stayed in sync learns it.
    assert record["test"]["accuracy"] >= 0.8, record["test"]


@pytest.mark.slow
def test_pretrain_then_fine_tune_with_init(tmp_path):
    runner = CliRunner()
    pre = ["pretrain", "--data", "identity-text", "--text", "text", "--out", str(tmp_path / "p")]
    result = runner.invoke(app, [*pre, "--epochs", "1", "--max-length", "8", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "tokenizer").is_dir()
    history = json.loads((tmp_path / "p" / "training.json").read_text())["epochs"]
    expected = [(e["epoch"], float(np.float32(e["mlm_loss"]))) for e in history]
    assert _logged(tmp_path / "p" / "tensorboard", "loss/train") == expected
    args = ["train", "--data", "identity-text", "--label", "sentiment", "--arch", "encoder"]
    args += ["--init", str(tmp_path / "p"), "--out", str(tmp_path / "c"), "--epochs", "1"]
    result = runner.invoke(app, [*args, "--max-length", "8", "--quiet"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "c" / "training.json").read_text())
    assert any("encoder from" in note for note in record["notes"])
