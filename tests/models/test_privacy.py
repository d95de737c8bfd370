"""DP accounting against published values, and raikit's δ and budget rules."""

from __future__ import annotations

import math

import pytest

from raikit.models.errors import ConfigError
from raikit.models.privacy import (
    PrivacySpec,
    epsilon_from_history,
    noise_for_target,
    resolve_delta,
)

# Published by TensorFlow Privacy (compute_dp_sgd_privacy_test.py: n, batch, sigma, epochs,
# delta -> epsilon) for the RDP accountant of the sampled Gaussian mechanism (Mironov et al.
# 2019) with the Balle et al. (2020) conversion; Opacus' own test: sigma 1.5, q 0.04, 90
# epochs, delta 1e-5 -> 7.32911117143.
RDP_REFERENCES = [
    (60_000, 150, 1.3, 15, 1e-5, 0.7242234026109595),
    (100_000, 100, 1.0, 30, 1e-7, 1.4154988495444845),
    (25, 1, 1.5, 90, 1e-5, 7.32911117143),
]


@pytest.mark.parametrize(("n", "batch", "sigma", "epochs", "delta", "expected"), RDP_REFERENCES)
def test_rdp_epsilon_matches_published_values(n, batch, sigma, epochs, delta, expected):
    sample_rate = batch / n
    steps = math.ceil(epochs * n / batch)
    epsilon = epsilon_from_history([[sigma, sample_rate, steps]], delta, "rdp")
    assert epsilon == pytest.approx(expected, abs=1e-9)


def test_prv_is_tighter_than_rdp_and_close_to_it():
    history = [[1.3, 150 / 60_000, 6_000]]
    prv = epsilon_from_history(history, 1e-5, "prv")
    rdp = epsilon_from_history(history, 1e-5, "rdp")
    assert 0.5 * rdp < prv < rdp


def test_noise_for_target_spends_at_most_the_target():
    sigma = noise_for_target(3.0, 1e-5, 0.01, 1_000, "rdp")
    spent = epsilon_from_history([[sigma, 0.01, 1_000]], 1e-5, "rdp")
    assert 3.0 - 0.01 <= spent <= 3.0


def test_default_delta_and_refusal():
    assert resolve_delta(None, 1_000) == pytest.approx(1e-4)
    assert resolve_delta(1e-5, 1_000) == 1e-5
    with pytest.raises(ConfigError, match=r"delta 0.001 is at least 1/n = 1/1000"):
        resolve_delta(1e-3, 1_000)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs --target-epsilon or --noise-multiplier"),
        ({"noise_multiplier": -1}, "noise_multiplier must be greater than 0; got -1 instead"),
        ({"noise_multiplier": 1, "accountant": "gdpx"}, "unknown accountant 'gdpx'"),
        (
            {"noise_multiplier": 1, "max_grad_norm": 0},
            "max_grad_norm must be greater than 0; got 0 instead",
        ),
    ],
)
def test_privacy_spec_rejects_bad_options(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PrivacySpec(**kwargs)


def test_module_validator_fix_is_reported():
    from torch import nn

    from raikit.models.privacy import fix_module

    module = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    fixed, changes = fix_module(module)
    assert any("BatchNorm" in change for change in changes)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fixed.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in fixed.modules())
    untouched, none = fix_module(nn.Sequential(nn.Linear(2, 2)))
    assert none == []
