"""Recurrent layers for private training whose per-example gradients are batched products.

An Elman RNN, LSTM or GRU layer computes, at each step, gate pre-activations
``x_t W_ih^T + b_ih`` and ``h_{t-1} W_hh^T + b_hh``; its weight gradients are sums over time of
outer products of those pre-activations' gradients with ``x_t`` and ``h_{t-1}``. Here each layer
holds the two maps as ``nn.Linear`` submodules: ``ih`` runs once over the whole sequence and
``hh`` once per step, so the fast engine's Linear rule (:mod:`raikit.models.fast_dp`) gets each
example's norm and the clipped sum from one batched product per map, with no per-example loop
(Opacus' hooks, which also handle ``nn.Linear``, add up the ``hh`` calls the same way).

The weights are laid out as in ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (same shapes and gate order).
The ``state_dict`` holds each one under PyTorch's name (``weight_ih_l0``) and under its own
(``l0.ih.weight``), as private checkpoints of Opacus' ``DPRNN``/``DPLSTM``/``DPGRU`` did, so
those load unchanged; loading takes either name, so an ``nn.LSTM`` state loads too.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Gates per cell: the width of the pre-activations is ``chunks * hidden_size``.
CHUNKS = {"rnn": 1, "lstm": 4, "gru": 3}


class _Cell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, chunks: int) -> None:
        super().__init__()
        self.ih = nn.Linear(input_size, chunks * hidden_size)
        self.hh = nn.Linear(hidden_size, chunks * hidden_size)


class BatchedRecurrent(nn.Module):
    """A batch-first, unidirectional ``nn.RNN`` (tanh), ``nn.LSTM`` or ``nn.GRU`` with biases.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
        The recurrent cell.
    input_size, hidden_size, num_layers : int
        As for ``nn.LSTM``.

    ``forward(x)`` takes ``(B, T, input_size)`` and returns the last layer's outputs
    ``(B, T, hidden_size)`` and the final states, as ``nn.LSTM(batch_first=True)`` does.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1):
        super().__init__()
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size
            setattr(self, f"l{layer}", _Cell(width, hidden_size, CHUNKS[cell]))
        bound = 1 / math.sqrt(hidden_size)  # nn.LSTM's initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        # nn.LSTM's names: "l0.ih.weight" is also saved, and may be loaded, as "weight_ih_l0".
        self._to_torch = {
            f"l{layer}.{m}.{kind}": f"{kind}_{m}_l{layer}"
            for layer in range(num_layers)
            for m in ("ih", "hh")
            for kind in ("weight", "bias")
        }
        self.register_state_dict_post_hook(_rename_saved)
        self.register_load_state_dict_pre_hook(_rename_loaded)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | tuple]:
        step = {"rnn": _elman_step, "lstm": _lstm_step, "gru": _gru_step}[self.cell]
        finals = []
        for layer in range(self.num_layers):
            cell = getattr(self, f"l{layer}")
            state = x.new_zeros(len(x), self.hidden_size)
            state = (state, state) if self.cell == "lstm" else state
            outputs = []
            for gates_x in cell.ih(x).unbind(1):  # the input map: one product for all steps
                state = step(gates_x, cell.hh, state)
                outputs.append(state[0] if self.cell == "lstm" else state)
            x = torch.stack(outputs, 1)
            finals.append(state)
        if self.cell == "lstm":
            return x, tuple(torch.stack(s) for s in zip(*finals, strict=True))
        return x, torch.stack(finals)


def _elman_step(gates_x: torch.Tensor, hh: nn.Module, h: torch.Tensor) -> torch.Tensor:
    return torch.tanh(gates_x + hh(h))


def _lstm_step(gates_x: torch.Tensor, hh: nn.Module, state: tuple) -> tuple:
    h, c = state
    i, f, g, o = (gates_x + hh(h)).chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _gru_step(gates_x: torch.Tensor, hh: nn.Module, h: torch.Tensor) -> torch.Tensor:
    x_r, x_z, x_n = gates_x.chunk(3, 1)
    h_r, h_z, h_n = hh(h).chunk(3, 1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return n + z * (h - n)


def _rename_saved(module: BatchedRecurrent, state_dict: dict, prefix: str, _meta) -> None:
    for ours, theirs in module._to_torch.items():
        state_dict[prefix + theirs] = state_dict[prefix + ours]


def _rename_loaded(module: BatchedRecurrent, state_dict: dict, prefix: str, *_args) -> None:
    for ours, theirs in module._to_torch.items():
        if prefix + theirs in state_dict:
            state_dict.setdefault(prefix + ours, state_dict.pop(prefix + theirs))
