"""The registry of model architectures ``rai train --arch`` can build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models.errors import ConfigError, close_matches_hint

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
