"""The fast DP engine's clipped sums equal Opacus' per-example clip-and-sum, layer by layer."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from raikit.models.fast_dp import (
    BookkeepingHooks,
    BookkeepingModule,
    BookkeepingOptimizer,
    unsupported_reason,
)

RELATIVE = 1e-5
# Opacus' reminder that the inputs need no gradient (they never do here).
pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")


def _loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """A mean over examples of each example's own loss (Opacus' ``loss_reduction="mean"``)."""
    return (outputs - targets).pow(2).reshape(len(outputs), -1).sum(1).mean()


def _args(inputs) -> tuple:
    return inputs if isinstance(inputs, tuple) else (inputs,)


def _step(model, optimizer, inputs, targets) -> dict[str, torch.Tensor]:
    optimizer.zero_grad()
    torch.manual_seed(7)  # the same dropout masks in every engine
    _loss(model(*_args(inputs)), targets).backward()
    assert optimizer.pre_step()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}


def clipped_mean(model: nn.Module, inputs, targets, max_grad_norm: float, engine: str):
    """The noiseless DP-SGD gradient ``sum_i clip(g_i) / B`` of ``engine`` on a model copy."""
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    model = copy.deepcopy(model).train()
    params = [p for p in model.parameters() if p.requires_grad]
    options = dict(noise_multiplier=0.0, max_grad_norm=max_grad_norm)
    options["expected_batch_size"] = len(_args(inputs)[0])
    if engine == "opacus":
        wrapped = GradSampleModule(model, loss_reduction="mean")
        optimizer = DPOptimizer(torch.optim.SGD(params, lr=0.1), **options)
        grads = _step(wrapped, optimizer, inputs, targets)
        wrapped._close()
        return {name.removeprefix("_module."): g for name, g in grads.items()}, None
    hooks = BookkeepingHooks(model)
    optimizer = BookkeepingOptimizer(torch.optim.SGD(params, lr=0.1), hooks=hooks, **options)
    grads = _step(BookkeepingModule(model, hooks), optimizer, inputs, targets)
    hooks.remove()
    return {name.removeprefix("_module."): g for name, g in grads.items()}, optimizer.last_norms


def assert_same_as_opacus(model, inputs, max_grad_norm=1.0):
    """Compare both engines; return the per-example norms the fast engine saw."""
    assert unsupported_reason(model) is None
    with torch.no_grad():
        targets = torch.randn_like(model(*_args(inputs)))
    expected, _ = clipped_mean(model, inputs, targets, max_grad_norm, "opacus")
    actual, norms = clipped_mean(model, inputs, targets, max_grad_norm, "raikit")
    assert expected.keys() == actual.keys()
    # Relative to each parameter's gradient; one that is zero in exact arithmetic (attention's
    # key bias: softmax ignores a shift shared by a row) is held to the whole gradient's scale.
    floor = 1e-3 * torch.cat([g.flatten() for g in expected.values()]).norm()
    for name, grad in expected.items():
        error = (actual[name] - grad).norm() / torch.maximum(grad.norm(), floor)
        assert error < RELATIVE, f"{name}: relative error {error:.2e}"
    return norms


class _ThreeReaders(nn.Module):
    """Query, key and value read one input (the Gram route, d <= p for ``v``); the output
    layer then reads an input of the same shape that is another tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 32)
        self.out = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.q(x) * self.k(x) + self.v(x)[..., :16])


LAYERS = {
    "linear-3d-shared-input": (_ThreeReaders, lambda: torch.randn(8, 3, 16)),
    "linear-2d": (lambda: nn.Linear(5, 3), lambda: torch.randn(8, 5)),
    # 4 x (5 + 3) > 5 x 3: the per-example gradients are materialised.
    "linear-3d": (lambda: nn.Linear(5, 3), lambda: torch.randn(8, 4, 5)),
    # 3 x (16 + 16) < 16 x 16: the T x T Gram route.
    "linear-3d-gram": (lambda: nn.Linear(16, 16), lambda: torch.randn(8, 3, 16)),
    "linear-4d-no-bias": (lambda: nn.Linear(5, 3, bias=False), lambda: torch.randn(8, 2, 3, 5)),
    "conv1d": (
        lambda: nn.Conv1d(3, 4, 3, padding=1, stride=2, dilation=2),
        lambda: torch.randn(8, 3, 11),
    ),
    "conv1d-grouped": (
        lambda: nn.Conv1d(4, 6, 2, groups=2, bias=False),
        lambda: torch.randn(8, 4, 5),
    ),
    "conv2d": (
        lambda: nn.Conv2d(2, 4, (3, 2), padding=(1, 0), stride=(1, 2)),
        lambda: torch.randn(8, 2, 6, 7),
    ),
    "embedding": (
        lambda: nn.Embedding(5, 4),  # 6 tokens of 5: every row holds repeated tokens
        lambda: torch.randint(0, 5, (8, 6)),
    ),
    "layernorm": (
        lambda: nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6)),
        lambda: torch.randn(8, 3, 4),
    ),
    "groupnorm": (
        lambda: nn.Sequential(nn.Conv2d(2, 4, 3), nn.GroupNorm(2, 4)),
        lambda: torch.randn(8, 2, 5, 5),
    ),
    # One position per example: nothing to sum over within an example.
    "layernorm-2d": (
        lambda: nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6)),
        lambda: torch.randn(8, 4),
    ),
    "groupnorm-2d": (
        lambda: nn.Sequential(nn.Linear(4, 6), nn.GroupNorm(2, 6)),
        lambda: torch.randn(8, 4),
    ),
}


@pytest.mark.parametrize("case", sorted(LAYERS))
def test_each_layer_matches_opacus(case):
    torch.manual_seed(0)
    build, make_inputs = LAYERS[case]
    layer, inputs = build(), make_inputs()
    with torch.no_grad():  # non-trivial norm-layer affine parameters
        for module in layer.modules():
            if isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
                module.weight.normal_()
                module.bias.normal_()
    assert_same_as_opacus(layer, inputs, max_grad_norm=1.0)


def _mlp():
    from raikit.models.architectures import build_mlp

    return build_mlp(6, 3, hidden=(8, 5), dropout=0.2)


def _cnn():
    from raikit.models.cnn import build_cnn

    return build_cnn(n_classes=3, channels=1, height=8, width=8, hidden=16)


def _encoder():
    from raikit.models.transformer import build_transformer, small_encoder_config

    config = small_encoder_config(40, 10, hidden_size=16, num_hidden_layers=2)
    return build_transformer(config, n_classes=3)


def _tokens():
    # No padding token (id 0): Opacus' Embedding rule, the reference, would count its rows.
    mask = torch.ones(12, 10, dtype=torch.long)
    mask[:4, 6:] = 0
    return torch.randint(1, 40, (12, 10)), mask


ARCHITECTURES = {
    "mlp": (_mlp, lambda: torch.randn(16, 6)),
    "cnn": (_cnn, lambda: torch.randn(16, 1, 8, 8)),
    "encoder": (_encoder, _tokens),
}


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_architectures_match_opacus_with_some_examples_clipped(arch):
    torch.manual_seed(0)
    build, make_inputs = ARCHITECTURES[arch]
    model, inputs = build(), make_inputs()
    first = assert_same_as_opacus(model, inputs, max_grad_norm=1.0)
    threshold = float(first.median())  # about half the examples are clipped
    norms = assert_same_as_opacus(model, inputs, max_grad_norm=threshold)
    assert (norms > threshold).any() and (norms < threshold).any()


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_example_clipped(arch):
    torch.manual_seed(1)
    build, make_inputs = ARCHITECTURES[arch]
    model, inputs = build(), make_inputs()
    norms = assert_same_as_opacus(model, inputs, max_grad_norm=1e-4)
    assert (norms > 1e-4).all()


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_no_example_clipped_gives_the_plain_gradient(arch):
    """Without clipping the engine's mean is autograd's gradient of the mean loss."""
    torch.manual_seed(2)
    build, make_inputs = ARCHITECTURES[arch]
    model, inputs = build(), make_inputs()
    norms = assert_same_as_opacus(model, inputs, max_grad_norm=1e6)
    assert (norms < 1e6).all()
    with torch.no_grad():
        targets = torch.randn_like(model(*_args(inputs)))
    actual, _ = clipped_mean(model, inputs, targets, 1e6, "raikit")
    plain = copy.deepcopy(model).train()
    torch.manual_seed(7)
    _loss(plain(*_args(inputs)), targets).backward()
    for name, p in plain.named_parameters():
        assert torch.allclose(actual[name], p.grad, rtol=1e-5, atol=1e-7), name


def test_per_example_norms_are_those_of_the_per_example_gradients():
    """Independent of Opacus: each example's gradient by autograd, one example at a time."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Embedding(6, 4), nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    inputs = torch.randint(0, 6, (5, 7))
    targets = torch.randn(5, 7, 2)
    hooks = BookkeepingHooks(model)
    _loss(model(inputs), targets).backward()
    norms = hooks.per_example_norms()
    hooks.remove()
    for i in range(len(inputs)):
        model.zero_grad()
        _loss(model(inputs[i : i + 1]), targets[i : i + 1]).backward()
        expected = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
        assert norms[i] == pytest.approx(float(expected), rel=1e-5)


def test_embedding_padding_rows_get_no_gradient():
    """``padding_idx`` positions add nothing, as in autograd (Opacus' rule counts them)."""
    torch.manual_seed(4)
    model = nn.Sequential(nn.Embedding(6, 3, padding_idx=0), nn.Linear(3, 2))
    inputs = torch.tensor([[0, 0, 1, 2], [3, 0, 3, 5]])
    targets = torch.randn(2, 4, 2)
    hooks = BookkeepingHooks(model)
    _loss(model(inputs), targets).backward()
    norms = hooks.per_example_norms()
    hooks.remove()
    for i in range(2):
        model.zero_grad()
        _loss(model(inputs[i : i + 1]), targets[i : i + 1]).backward()
        expected = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
        assert norms[i] == pytest.approx(float(expected), rel=1e-5)


def test_frozen_layers_and_frozen_bias():
    torch.manual_seed(5)
    model = _mlp()
    model[0].requires_grad_(False)
    model[3].bias.requires_grad_(False)
    assert_same_as_opacus(model, torch.randn(16, 6), max_grad_norm=0.5)


SHARED = {
    "linear-2d": (lambda: nn.Linear(4, 4), lambda: torch.randn(8, 4)),
    # Two calls of 3 positions: 6 x (16 + 16) < 16 x 16, the Gram route over both calls.
    "linear-3d-gram": (lambda: nn.Linear(16, 16), lambda: torch.randn(8, 3, 16)),
    "conv1d": (lambda: nn.Conv1d(3, 3, 3, padding=1), lambda: torch.randn(8, 3, 6)),
    "layernorm": (lambda: nn.LayerNorm(5), lambda: torch.randn(8, 2, 5)),
}


@pytest.mark.parametrize("case", sorted(SHARED))
def test_layer_called_twice_is_exact(case):
    """One layer applied twice in a forward: its two calls add up exactly."""
    torch.manual_seed(6)
    build, make_inputs = SHARED[case]
    shared = build()
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert_same_as_opacus(model, make_inputs(), max_grad_norm=0.5)


def test_tied_weights_and_foreign_layers_are_refused():
    first, second = nn.Linear(4, 4), nn.Linear(4, 4)
    second.weight = first.weight
    tied = nn.Sequential(first, nn.Tanh(), second)
    assert "tied weights" in unsupported_reason(tied)
    assert "no fast per-example rule" in unsupported_reason(nn.Sequential(nn.LSTM(3, 4)))
    assert "mixes the examples" in unsupported_reason(nn.Sequential(nn.BatchNorm1d(3)))

    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.factor = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x * self.factor

    assert "(Scale) has no fast per-example rule" in unsupported_reason(nn.Sequential(Scale()))
    frozen_lstm = nn.Sequential(nn.LSTM(3, 4), nn.Linear(4, 2))
    frozen_lstm[0].requires_grad_(False)
    assert unsupported_reason(frozen_lstm) is None


def test_hooks_are_removed():
    model = _mlp()
    hooks = BookkeepingHooks(model)
    hooks.remove()
    assert all(not m._forward_hooks for m in model.modules())


def test_empty_batch_gives_zero_sums():
    """An empty Poisson batch still steps: the clipped sum is zero, only noise remains."""
    model = _cnn()
    hooks = BookkeepingHooks(model)
    model(torch.zeros(0, 1, 8, 8)).sum().backward()
    norms = hooks.accumulate_clipped(1.0)
    hooks.remove()
    assert norms.shape == (0,)
    assert all(float(p.summed_grad.abs().sum()) == 0 for p in model.parameters())


def _fast_optimizer(model, noise_multiplier, max_grad_norm, expected_batch_size):
    sgd = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    return BookkeepingOptimizer(
        sgd,
        hooks=BookkeepingHooks(model),
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        expected_batch_size=expected_batch_size,
    )


def test_physical_batches_accumulate_into_one_logical_step():
    """Two physical halves (the first step skipped, as BatchMemoryManager signals) give the
    logical batch's gradient: the clipped sums add up, then one division by the batch size."""
    torch.manual_seed(8)
    model = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3))
    inputs, targets = torch.randn(10, 6), torch.randn(10, 3)
    whole = copy.deepcopy(model)
    optimizer = _fast_optimizer(whole, 0.0, 0.3, 10)
    optimizer.zero_grad()
    _loss(BookkeepingModule(whole, optimizer.hooks)(inputs), targets).backward()
    optimizer.pre_step()
    optimizer = _fast_optimizer(model, 0.0, 0.3, 10)
    wrapped = BookkeepingModule(model, optimizer.hooks)
    for part, skip in ((slice(0, 4), True), (slice(4, 10), False)):
        optimizer.signal_skip_step(do_skip=skip)
        optimizer.zero_grad()
        _loss(wrapped(inputs[part]), targets[part]).backward()
        assert all(p.grad is None for p in model.parameters())  # no unclipped gradients
        assert optimizer.pre_step() is not skip
    for split, single in zip(model.parameters(), whole.parameters(), strict=True):
        torch.testing.assert_close(split.grad, single.grad, rtol=1e-5, atol=1e-7)


def test_noise_is_sigma_c_over_the_expected_batch_size():
    """A zero gradient leaves only the noise: std sigma * C / expected batch size, drawn
    afresh at each step (the buffers it is drawn into are reused, never added up)."""
    torch.manual_seed(9)
    model = nn.Sequential(nn.Linear(100, 100))
    optimizer = _fast_optimizer(
        model, noise_multiplier=3.0, max_grad_norm=2.0, expected_batch_size=4
    )
    draws = []
    for _ in range(2):
        optimizer.zero_grad()
        (model(torch.zeros(4, 100)) * 0.0).sum().backward()
        optimizer.pre_step()
        draws.append(torch.cat([p.grad.flatten() for p in model.parameters()]).clone())
    for noise in draws:
        assert float(noise.std()) == pytest.approx(3.0 * 2.0 / 4, rel=0.03)
        assert abs(float(noise.mean())) < 0.05
    assert float(torch.corrcoef(torch.stack(draws))[0, 1]) == pytest.approx(0, abs=0.02)


def test_each_step_holds_only_its_own_batch():
    """Consecutive steps, with ``zero_grad(set_to_none=False)`` between them: the second
    gradient is that of its own batch alone, as from a fresh optimizer."""
    torch.manual_seed(10)
    model = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3))
    fresh = copy.deepcopy(model)
    batches = [(torch.randn(5, 6), torch.randn(5, 3)) for _ in range(2)]
    optimizer = _fast_optimizer(model, 0.0, 0.3, 5)
    wrapped = BookkeepingModule(model, optimizer.hooks)
    for inputs, targets in batches:
        optimizer.zero_grad(set_to_none=False)
        assert all(p.grad is None for p in model.parameters())
        _loss(wrapped(inputs), targets).backward()
        assert optimizer.pre_step()
    single = _fast_optimizer(fresh, 0.0, 0.3, 5)
    _loss(BookkeepingModule(fresh, single.hooks)(batches[1][0]), batches[1][1]).backward()
    assert single.pre_step()
    for second, alone in zip(model.parameters(), fresh.parameters(), strict=True):
        torch.testing.assert_close(second.grad, alone.grad, rtol=1e-6, atol=0)


def test_training_falls_back_to_opacus_and_says_why():
    from raikit.models.privacy import choose_engine

    assert choose_engine(_mlp()) == ("raikit-bookkeeping", None)
    first, second = nn.Linear(4, 4), nn.Linear(4, 4)
    second.weight = first.weight
    engine, reason = choose_engine(nn.Sequential(first, nn.Tanh(), second))
    assert engine == "opacus-hooks"
    assert reason == "parameter shared by layers '0' and '2' (tied weights)"


def test_minilm_l6_matches_opacus():
    """MiniLM-L6 as `rai train --arch transformer` builds it (its config, random weights)."""
    from transformers import AutoConfig

    from raikit.models.transformer import _config_dict, build_transformer, default_pretrained_dir

    torch.manual_seed(3)
    config = _config_dict(AutoConfig.from_pretrained(default_pretrained_dir()))
    model = build_transformer(config, n_classes=2)
    ids = torch.randint(1, config["vocab_size"], (4, 12))
    mask = torch.ones(4, 12, dtype=torch.long)
    mask[0, 8:] = 0
    first = assert_same_as_opacus(model, (ids, mask), max_grad_norm=1.0)
    threshold = float(first.median())
    norms = assert_same_as_opacus(model, (ids, mask), max_grad_norm=threshold)
    assert (norms > threshold).any() and (norms < threshold).any()
