"""Recurrent networks: a text classifier over token ids and a sequence-to-one regressor.

The cell is an Elman RNN (``rnn``, the SimpleRNN of the design documents), an LSTM or a GRU.
Trained privately, the layer is :class:`~raikit.models.fast_dp_rnn.BatchedRecurrent`, whose
per-example gradients the fast DP engine (or Opacus' hooks) computes from batched products;
otherwise PyTorch's fused ``nn.RNN``/``nn.LSTM``/``nn.GRU``, several times faster. Both, and
Opacus' ``DPLSTM`` of older private checkpoints, share one ``state_dict`` layout; ``cell`` and
``dp`` in the saved config say which layer a checkpoint is rebuilt with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raikit.models.errors import ConfigError

if TYPE_CHECKING:
    import torch

CELLS = ("rnn", "lstm", "gru")


def _recurrent(cell: str, dp: bool, input_size: int, hidden: int, layers: int):
    from torch import nn

    if cell not in CELLS:
        raise ConfigError(f"unknown recurrent cell '{cell}'; use one of {', '.join(CELLS)}")
    if dp:
        from raikit.models.fast_dp_rnn import BatchedRecurrent

        return BatchedRecurrent(cell, input_size, hidden, layers)
    layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    return layer(input_size, hidden, num_layers=layers, batch_first=True)


def _module_class():
    from torch import nn

    class RecurrentNet(nn.Module):
        """Embedding (text) or identity (numbers) -> recurrent layer -> last state -> linear.

        Text is left-padded (see :mod:`raikit.models.text`), so the last time step is always the
        end of the real sequence and no packing is needed (the DP layer does not pack).
        """

        def __init__(self, embed, rnn, head) -> None:
            super().__init__()
            self.embed = embed
            self.rnn = rnn
            self.head = head

        def forward(self, inputs):
            x = self.embed(inputs) if self.embed is not None else inputs
            if x.dim() == 2:
                x = x.unsqueeze(-1)
            outputs, _ = self.rnn(x)
            return self.head(outputs[:, -1, :])

    return RecurrentNet


def build_rnn(
    n_classes: int,
    vocab_size: int | None = None,
    n_features: int = 1,
    embed_dim: int = 64,
    hidden: int = 64,
    layers: int = 1,
    cell: str = "lstm",
    dp: bool = False,
    dropout: float = 0.1,
) -> torch.nn.Module:
    """A recurrent classifier (``vocab_size`` given) or regressor (``n_classes == 1``).

    Parameters
    ----------
    n_classes : int
        Output width: classes for a classifier, 1 for the sequence regressor (MSE loss).
    vocab_size : int, optional
        Token vocabulary (text); None for numeric sequences of ``n_features`` per step.
    n_features : int
        Values per time step of a numeric sequence.
    embed_dim, hidden, layers : int
        Embedding width, recurrent state width and number of recurrent layers.
    cell : {"rnn", "lstm", "gru"}
        Recurrent cell: Elman RNN (tanh), LSTM or GRU.
    dp : bool
        Build the recurrent layer DP-SGD can clip per example.
    dropout : float
        Dropout before the output layer.
    """
    from torch import nn

    embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0) if vocab_size else None
    rnn = _recurrent(cell, dp, embed_dim if vocab_size else n_features, hidden, layers)
    head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_classes))
    return _module_class()(embed, rnn, head)
