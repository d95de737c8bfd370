"""Compression: int8 moves only decisions within its error bound; pruning zeroes exactly s."""

from __future__ import annotations

import pytest
import torch
import typer
from click.testing import CliRunner
from safetensors import safe_open

from raikit.audit.cli import app
from raikit.audit.predictor import load_predictor
from raikit.models.checkpoint import load_module, read_checkpoint
from raikit.models.cnn import build_cnn
from raikit.models.compress import compress, prune_magnitude
from raikit.models.inputs import encode_inputs
from raikit.models.train import TrainSpec, train

RAI = typer.main.get_command(app)
runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def logistic(arrests_table, tmp_path_factory):
    """A logistic regression (no hidden layer) on carData::Arrests."""
    spec = TrainSpec(label="released", sensitive=("colour", "sex"), hidden=(), epochs=3)
    return train(arrests_table, spec, tmp_path_factory.mktemp("lr") / "model", progress=False)


def test_int8_of_a_linear_model_changes_decisions_only_near_the_threshold(
    logistic, arrests_table, tmp_path
):
    quantized = compress(logistic.path, tmp_path / "int8", int8=True)
    rows = arrests_table.frame.iloc[logistic.split["test"]]
    (x,) = encode_inputs(rows, logistic.config["inputs"])
    original = load_module(logistic)
    weight, bias = original[0].weight.detach(), original[0].bias.detach()
    with torch.no_grad():
        margin = (x @ weight.T + bias) @ torch.tensor([-1.0, 1.0])
        margin_int8 = load_module(read_checkpoint(quantized.path))(x) @ torch.tensor([-1.0, 1.0])
    # Hand bound: weights rounded to a step of max|w| / 127.5 (int8, symmetric), inputs to a
    # step of their range / 127 (uint8 with a reduced range, the widest torch uses); each
    # product is off by at most |w| dx / 2 + |x| dw / 2 + dw dx / 4, per logit.
    step_w = float(weight.abs().max()) / 127.5
    step_x = (float(x.max().clamp_min(0)) - float(x.min().clamp_max(0))) / 127
    per_logit = (
        weight.abs().sum(1)[None, :] * step_x / 2
        + x.abs().sum(1, keepdim=True) * step_w / 2
        + x.shape[1] * step_w * step_x / 4
    )
    bound = per_logit.sum(1)
    assert ((margin_int8 - margin).abs() <= bound + 1e-5).all()
    far = margin.abs() > bound
    assert far.float().mean() > 0.5  # most rows are outside the bound: the test can fail
    assert torch.equal((margin_int8[far] > 0), (margin[far] > 0))


def test_int8_checkpoint_stores_int8_weights_and_loads(arrests_model, arrests_table, tmp_path):
    out = tmp_path / "int8"
    result = runner.invoke(RAI, ["compress", str(arrests_model.path), "--int8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with safe_open(str(out / "model.safetensors"), framework="pt") as weights:
        dtypes = {name: weights.get_slice(name).get_dtype() for name in weights.keys()}  # noqa: SIM118
    linear = [n for n in dtypes if n.endswith(".weight")]
    assert linear and all(dtypes[n] == "I8" for n in linear)
    facts = read_checkpoint(out).record["compression"]
    assert facts["size_bytes"] == (out / "model.safetensors").stat().st_size
    assert facts["size_bytes"] < facts["source"]["size_bytes"] / 2
    assert facts["latency_ms_per_row"] > 0 and facts["source"]["latency_ms_per_row"] > 0
    rows = arrests_table.frame.head(50)
    before = load_predictor(arrests_model.path).predict_proba(rows)
    after = load_predictor(out).predict_proba(rows)
    assert abs(after - before).max() < 0.05
    # No gradients: explanations fall back to model-agnostic methods; no further training.
    explained = runner.invoke(RAI, f"explain --model {out} --data arrests --row 0")
    assert explained.exit_code == 0, explained.output
    resumed = runner.invoke(
        RAI, f"train --data arrests --label released --resume {out} --out {tmp_path / 'r'}"
    )
    assert resumed.exit_code == 2
    assert "was made by `rai compress`; resume the model it came from" in resumed.stderr


def test_pruning_zeroes_exactly_the_share_asked(arrests_model, tmp_path):
    pruned = compress(arrests_model.path, tmp_path / "pruned", sparsity=0.3)
    before = load_module(arrests_model).state_dict()
    after = load_module(read_checkpoint(pruned.path)).state_dict()
    weights = [n for n in after if n.endswith(".weight")]
    n = sum(after[w].numel() for w in weights)
    assert sum(int((after[w] == 0).sum()) for w in weights) == round(0.3 * n)
    assert sum(int((before[w] == 0).sum()) for w in weights) == 0
    for name in weights:  # the survivors are untouched
        kept = after[name] != 0
        assert torch.equal(after[name][kept], before[name][kept])
    assert all(torch.equal(after[b], before[b]) for b in after if b.endswith(".bias"))


def test_pruning_takes_the_smallest_weights_over_all_layers():
    torch.manual_seed(0)
    module = build_cnn(n_classes=3, height=8, width=8, hidden=16)
    layers = [m for m in module.modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)]
    values = torch.cat([m.weight.detach().abs().flatten() for m in layers])
    n = prune_magnitude(module, 0.6)
    assert n == len(values)
    threshold = values.sort().values[round(0.6 * n) - 1]
    zeros = sum(int((m.weight == 0).sum()) for m in layers)
    assert zeros == round(0.6 * n)
    survivors = torch.cat([m.weight.detach().abs().flatten() for m in layers])
    assert float(survivors[survivors > 0].min()) >= float(threshold)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--int8", "--prune", "0.5"], "give exactly one of --int8 and --prune SPARSITY"),
        (["--prune", "1.5"], "--prune must be a share in [0, 1); got 1.5 instead"),
        (["--int8", "--out-is-model"], "--out must be a new directory"),
    ],
)
def test_bad_compress_options_exit_2(arrests_model, tmp_path, options, message):
    out = str(arrests_model.path) if "--out-is-model" in options else str(tmp_path / "out")
    options = [o for o in options if o != "--out-is-model"]
    result = runner.invoke(RAI, ["compress", str(arrests_model.path), *options, "--out", out])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert read_checkpoint(arrests_model.path).config["compression"] is None


def test_the_planted_pruning_case_hurts_only_the_small_group(tmp_path):
    """The fixture of `_planted_pruning` does what it claims (for the model comparison)."""
    from raikit.models.inference import load_model

    from ._planted_pruning import planted_frame, planted_model

    model, sparsity = planted_model(tmp_path)
    pruned = compress(model, tmp_path / "pruned", sparsity=sparsity)
    frame = planted_frame()
    small = frame["group"] == "small"
    truth = (frame["label"] == "yes").to_numpy()
    accuracy = {}
    for name, path in (("original", model), ("pruned", pruned.path)):
        decided = load_model(path).outputs(frame)[:, 1] > 0.5
        accuracy[name] = {g: float((decided == truth)[mask].mean()) for g, mask in
                          (("small", small), ("large", ~small))}  # fmt: skip
    assert accuracy["original"]["small"] == 1.0 and accuracy["original"]["large"] > 0.95
    assert accuracy["pruned"]["small"] < 0.7  # a coin, near 0.5
    assert abs(accuracy["pruned"]["large"] - accuracy["original"]["large"]) < 0.01
