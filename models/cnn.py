"""The image classifier: the classic two-convolution network, sized from the data."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def build_cnn(
    n_classes: int,
    channels: int = 1,
    height: int = 28,
    width: int = 28,
    dropout: float = 0.25,
    hidden: int = 128,
) -> torch.nn.Module:
    """``conv 32 -> conv 64 -> max-pool -> dropout -> FC hidden -> classes``.

    Parameters
    ----------
    n_classes : int
        Number of output classes.
    channels, height, width : int
        Input image shape, taken from the data (8x8 digits, 28x28 MNIST, any folder size).
    dropout : float
        Dropout after pooling and after the hidden layer.
    hidden : int
        Width of the fully connected layer.

    Returns
    -------
    torch.nn.Module
        Maps ``(batch, channels, height, width)`` floats to ``(batch, n_classes)`` logits.
    """
    from torch import nn

    # Two 3x3 'same'-padded convolutions keep the size; the 2x2 pool halves it (floor).
    flat = 64 * (height // 2) * (width // 2)
    return nn.Sequential(
        nn.Conv2d(channels, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(dropout),
        nn.Flatten(),
        nn.Linear(flat, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, n_classes),
    )
