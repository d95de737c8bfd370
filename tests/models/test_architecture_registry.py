import pytest
import torch

from raikit.models.architectures import (
    Architecture,
    build_mlp,
    get_architecture,
    list_architectures,
    register_architecture,
)
from raikit.models.errors import ConfigError


def test_mlp_shape_and_parameter_count():
    model = build_mlp(input_dim=10, n_classes=3, hidden=(8, 4), dropout=0.0)
    assert model(torch.zeros(5, 10)).shape == (5, 3)
    # (10*8 + 8) + (8*4 + 4) + (4*3 + 3) parameters, counted by hand.
    assert sum(p.numel() for p in model.parameters()) == 88 + 36 + 15


def test_no_hidden_layer_is_logistic_regression():
    model = build_mlp(input_dim=4, n_classes=2, hidden=())
    assert [type(m).__name__ for m in model] == ["Linear"]


def test_registry_lists_refuses_duplicates_and_suggests():
    assert "mlp" in [a.name for a in list_architectures()]
    with pytest.raises(ValueError, match="already registered"):
        register_architecture(Architecture("mlp", "again", "tabular", build_mlp))
    with pytest.raises(ConfigError, match="unknown architecture 'mpl' .*did you mean 'mlp'"):
        get_architecture("mpl")
