"""Private recurrent layers: the fast engine's clipped sums equal Opacus' ``DPRNN``/``DPLSTM``/
``DPGRU`` on the same weights, and the layer is ``nn.RNN``/``nn.LSTM``/``nn.GRU`` in value."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from torch import nn

from raikit.models.fast_dp import unsupported_reason
from raikit.models.fast_dp_rnn import BatchedRecurrent
from raikit.models.rnn import build_rnn
from tests.models.test_fast_dp import RELATIVE, _loss, clipped_mean

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")
TORCH_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _opacus_layer(cell: str, *sizes: int, num_layers: int) -> nn.Module:
    from opacus.layers import DPGRU, DPLSTM, DPRNN

    return {"rnn": DPRNN, "lstm": DPLSTM, "gru": DPGRU}[cell](
        *sizes, num_layers=num_layers, batch_first=True
    )


class _AllOutputs(nn.Module):
    """The recurrent layer alone: every step's output enters the loss."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


def _with_opacus_layer(model: nn.Module) -> nn.Module:
    """``model`` with its ``BatchedRecurrent`` replaced by Opacus' twin holding the same weights."""
    twin = copy.deepcopy(model)
    ours = model.rnn
    first = ours.l0.ih.in_features
    twin.rnn = _opacus_layer(ours.cell, first, ours.hidden_size, num_layers=ours.num_layers)
    twin.rnn.load_state_dict(ours.state_dict())
    return twin


def _torch_names(grads: dict) -> dict:
    """``rnn.l0.ih.weight`` -> ``rnn.weight_ih_l0`` (the names Opacus' layers go by)."""
    rename = re.compile(r"rnn\.l(\d+)\.(ih|hh)\.(weight|bias)")
    return {rename.sub(r"rnn.\3_\2_l\1", name): g for name, g in grads.items()}


def assert_same_as_opacus_layer(model: nn.Module, inputs: torch.Tensor, max_grad_norm: float):
    """The fast engine on ``model`` against Opacus' hooks on its DP-layer twin; the norms."""
    assert unsupported_reason(model) is None
    with torch.no_grad():
        targets = torch.randn_like(model(inputs))
    twin = _with_opacus_layer(model)
    expected, _ = clipped_mean(twin, inputs, targets, max_grad_norm, "opacus")
    actual, norms = clipped_mean(model, inputs, targets, max_grad_norm, "raikit")
    actual = _torch_names(actual)
    assert expected.keys() == actual.keys()
    for name, grad in expected.items():
        error = (actual[name] - grad).norm() / grad.norm()
        assert error < RELATIVE, f"{name}: relative error {error:.2e}"
    return norms


CELLS = [(cell, layers) for cell in ("rnn", "lstm", "gru") for layers in (1, 2)]


@pytest.mark.parametrize(("cell", "layers"), CELLS)
@pytest.mark.parametrize("clipped", ["every", "none"])
def test_recurrent_layer_matches_opacus(cell, layers, clipped):
    torch.manual_seed(layers)
    model = _AllOutputs(BatchedRecurrent(cell, 3, 5, layers))
    max_grad_norm = 1e-4 if clipped == "every" else 1e6
    norms = assert_same_as_opacus_layer(model, torch.randn(6, 7, 3), max_grad_norm)
    assert ((norms > max_grad_norm) if clipped == "every" else (norms < max_grad_norm)).all()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_opacus_hooks_on_the_layer_match_its_dp_layer(cell):
    """Where training falls back to Opacus (DDP), its hooks clip this layer exactly too."""
    torch.manual_seed(9)
    model, inputs = _AllOutputs(BatchedRecurrent(cell, 3, 5, 2)), torch.randn(6, 7, 3)
    with torch.no_grad():
        targets = torch.randn_like(model(inputs))
    expected, _ = clipped_mean(_with_opacus_layer(model), inputs, targets, 0.5, "opacus")
    actual, _ = clipped_mean(model, inputs, targets, 0.5, "opacus")
    actual = _torch_names(actual)
    assert expected.keys() == actual.keys()
    for name, grad in expected.items():
        assert (actual[name] - grad).norm() / grad.norm() < RELATIVE, name


def _text_classifier(cell: str, layers: int) -> nn.Module:
    return build_rnn(3, vocab_size=30, embed_dim=6, hidden=5, layers=layers, cell=cell, dp=True)


def _regressor(cell: str, layers: int) -> nn.Module:
    return build_rnn(1, hidden=5, layers=layers, cell=cell, dp=True)


def _tokens() -> torch.Tensor:
    # No padding id 0: Opacus' Embedding rule, the reference, would give its row gradients.
    return torch.randint(1, 30, (8, 9))


ARCHITECTURES = {"text": (_text_classifier, _tokens), "regressor": (_regressor, None)}


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize(("cell", "layers"), [("lstm", 2), ("gru", 1), ("rnn", 1)])
def test_architectures_match_opacus_with_some_examples_clipped(arch, cell, layers):
    torch.manual_seed(4)
    build, make_inputs = ARCHITECTURES[arch]
    model = build(cell, layers)
    inputs = make_inputs() if make_inputs else torch.randn(8, 9)
    first = assert_same_as_opacus_layer(model, inputs, max_grad_norm=1e6)
    threshold = float(first.median())
    norms = assert_same_as_opacus_layer(model, inputs, max_grad_norm=threshold)
    assert (norms > threshold).any() and (norms < threshold).any()


def test_no_example_clipped_gives_the_plain_gradient_of_torch_lstm():
    """Independent of Opacus: unclipped, the mean is autograd's gradient through ``nn.LSTM``."""
    torch.manual_seed(5)
    plain = _AllOutputs(nn.LSTM(3, 4, num_layers=2, batch_first=True))
    model = _AllOutputs(BatchedRecurrent("lstm", 3, 4, 2))
    model.rnn.load_state_dict(plain.rnn.state_dict())
    inputs = torch.randn(6, 5, 3)
    with torch.no_grad():
        targets = torch.randn_like(model(inputs))
    actual, _ = clipped_mean(model, inputs, targets, 1e6, "raikit")
    _loss(plain(inputs), targets).backward()
    for name, p in plain.named_parameters():
        assert torch.allclose(_torch_names(actual)[name], p.grad, rtol=1e-5, atol=1e-7), name


@pytest.mark.parametrize(("cell", "layers"), CELLS)
def test_layer_is_torch_layer_in_value_and_state_dict(cell, layers):
    torch.manual_seed(6)
    ours = BatchedRecurrent(cell, 3, 4, layers)
    reference = TORCH_LAYERS[cell](3, 4, num_layers=layers, batch_first=True)
    ours.load_state_dict(reference.state_dict())  # the same shapes and gate order
    opacus_layer = _opacus_layer(cell, 3, 4, num_layers=layers)
    assert set(nn.Sequential(ours).state_dict()) == set(nn.Sequential(opacus_layer).state_dict())
    ours.load_state_dict(opacus_layer.state_dict())
    reference.load_state_dict(opacus_layer.state_dict())
    x = torch.randn(2, 6, 3)
    (outputs, states), (expected, expected_states) = ours(x), reference(x)
    torch.testing.assert_close(outputs, expected)
    torch.testing.assert_close(states, expected_states)  # h_n, and c_n for an LSTM


@pytest.mark.parametrize(("cell", "layers"), CELLS)
def test_gradients_are_those_of_the_torch_layer(cell, layers):
    """The written-out backward through time equals autograd through PyTorch's layer."""
    torch.manual_seed(8)
    ours = BatchedRecurrent(cell, 3, 4, layers)
    reference = TORCH_LAYERS[cell](3, 4, num_layers=layers, batch_first=True)
    ours.load_state_dict(reference.state_dict())
    x, weights = torch.randn(5, 7, 3), torch.randn(5, 7, 4)
    grads = {}
    for name, layer in (("ours", ours), ("reference", reference)):
        inputs = x.clone().requires_grad_()
        (layer(inputs)[0] * weights).sum().backward()
        grads[name] = {
            "input": inputs.grad,
            **_torch_names({f"rnn.{n}": p.grad for n, p in layer.named_parameters()}),
        }
    assert grads["ours"].keys() == grads["reference"].keys()
    for name, expected in grads["reference"].items():
        torch.testing.assert_close(grads["ours"][name], expected, rtol=1e-5, atol=1e-6)


def test_private_recurrent_models_use_the_fast_engine():
    from raikit.models.privacy import choose_engine

    assert choose_engine(_text_classifier("lstm", 2)) == ("raikit-bookkeeping", None)
    assert choose_engine(_regressor("rnn", 1)) == ("raikit-bookkeeping", None)


def test_private_checkpoint_of_opacus_layer_still_loads_and_predicts(tmp_path):
    """A private checkpoint saved before this layer (Opacus' ``DPGRU``, whose ``state_dict``
    holds each weight under two names) loads into today's model and predicts the same."""
    from raikit.audit.predictor import load_predictor
    from raikit.models.checkpoint import read_checkpoint, save_checkpoint
    from raikit.models.data import LoadedTable, load_table
    from raikit.models.inference import load_model
    from raikit.models.privacy import PrivacySpec
    from raikit.models.train import TrainSpec, train

    table = load_table("sine-sequences")
    table = LoadedTable(table.frame.iloc[:120], table.source, table.sha256, table.spec)
    privacy = PrivacySpec(noise_multiplier=1.0, accountant="rdp")
    spec = TrainSpec(label="amplitude", arch="rnn", cell="gru", epochs=1, privacy=privacy)
    train(table, spec, tmp_path / "new", progress=False)
    frame = table.frame.iloc[:6]
    expected = load_predictor(tmp_path / "new").predict(frame)
    old = load_model(tmp_path / "new").module
    old.rnn = _with_opacus_layer(old).rnn
    assert any(key.startswith("rnn.l0.ih.") for key in old.state_dict())  # both names saved
    checkpoint = read_checkpoint(tmp_path / "new")
    save_checkpoint(tmp_path / "old", old, checkpoint.config, checkpoint.record, checkpoint.split)
    np.testing.assert_allclose(load_predictor(tmp_path / "old").predict(frame), expected)
