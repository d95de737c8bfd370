"""The registry of model architectures ``rai train --arch`` can build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from raikit.models.errors import ConfigError, close_matches_hint

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Architecture:
    """A buildable model family: ``build(**params)`` returns a fresh ``torch.nn.Module``."""

    name: str
    description: str
    data_kind: str
    build: Callable[..., torch.nn.Module]


_ARCHITECTURES: dict[str, Architecture] = {}


def register_architecture(architecture: Architecture, *, force: bool = False) -> None:
    """Add ``architecture`` to the registry; an existing name is refused unless ``force``."""
    if architecture.name in _ARCHITECTURES and not force:
        raise ValueError(f"architecture '{architecture.name}' is already registered")
    _ARCHITECTURES[architecture.name] = architecture


def get_architecture(name: str) -> Architecture:
    """Return the registered architecture called ``name``."""
    try:
        return _ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(_ARCHITECTURES))
        hint = close_matches_hint(name, _ARCHITECTURES)
        raise ConfigError(f"unknown architecture '{name}' (known: {known}){hint}") from None


def list_architectures() -> list[Architecture]:
    """Every registered architecture, by name."""
    return [_ARCHITECTURES[name] for name in sorted(_ARCHITECTURES)]


def build_from_config(config: dict) -> torch.nn.Module:
    """Rebuild the (untrained) module a checkpoint's ``config.json`` describes."""
    params = dict(config["arch_params"])
    if "hidden" in params and isinstance(params["hidden"], list):
        params["hidden"] = tuple(params["hidden"])
    module = get_architecture(config["architecture"]).build(**params)
    if config.get("dp_fixed"):
        from opacus.validators import ModuleValidator

        module = ModuleValidator.fix(module)
    return module


def build_mlp(
    input_dim: int, n_classes: int, hidden: tuple[int, ...] = (64, 32), dropout: float = 0.1
) -> torch.nn.Module:
    """A feed-forward classifier: ``Linear -> ReLU -> Dropout`` per hidden layer, then logits."""
    from torch import nn

    layers: list[Any] = []
    width = input_dim
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


register_architecture(
    Architecture("mlp", "multi-layer perceptron for tables", "tabular", build_mlp)
)


def _build_cnn(**params: Any) -> torch.nn.Module:
    from raikit.models.cnn import build_cnn

    return build_cnn(**params)


def _build_rnn(**params: Any) -> torch.nn.Module:
    from raikit.models.rnn import build_rnn

    return build_rnn(**params)


def _build_transformer(**params: Any) -> torch.nn.Module:
    from raikit.models.transformer import build_transformer

    return build_transformer(**params)


def _build_masked_lm(**params: Any) -> torch.nn.Module:
    from raikit.models.transformer import build_masked_lm

    return build_masked_lm(**params)


for _architecture in (
    Architecture(
        "cnn", "two-convolution image classifier, sized from the data", "image", _build_cnn
    ),
    Architecture(
        "rnn",
        "RNN/LSTM/GRU text classifier (--text) or sequence-to-one regressor (--task regression)",
        "text",
        _build_rnn,
    ),
    Architecture(
        "transformer",
        "fine-tuned local Hugging Face model (default MiniLM-L6, --pretrained DIR)",
        "hf-text",
        _build_transformer,
    ),
    Architecture(
        "encoder",
        "small BERT encoder trained from scratch with its own tokenizer (--init from pretrain)",
        "hf-text",
        _build_transformer,
    ),
    Architecture(
        "encoder-mlm",
        "masked-language-model pre-training (`rai pretrain`)",
        "mlm",
        _build_masked_lm,
    ),
):
    register_architecture(_architecture)
del _architecture
