"""Recurrent layers for private training whose per-example gradients are batched products.

An Elman RNN, LSTM or GRU layer computes, at each step, gate pre-activations
``x_t W_ih^T + b_ih`` and ``h_{t-1} W_hh^T + b_hh``; its weight gradients are sums over time of
outer products of those pre-activations' gradients with ``x_t`` and ``h_{t-1}``. Here each layer
holds the two maps as ``nn.Linear`` submodules. A training forward first runs PyTorch's fused
layer without a graph, which gives every ``h_{t-1}``; then ``ih`` runs once over the inputs and
``hh`` once over those states, and a small autograd function forms the outputs from the gates,
its backward through time written out (one product with ``W_hh`` per step, everything else
batched over time). The fast engine's Linear-over-sequence rule (:mod:`raikit.models.fast_dp`),
or Opacus' hooks, then get each example's norm and the clipped sum from the two calls alone.
Without gradients (inference) only the fused layer runs.

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
        self.register_state_dict_post_hook(_add_torch_names)
        self.register_load_state_dict_pre_hook(_rename_loaded)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | tuple]:
        finals = []
        for layer in range(self.num_layers):
            cell = getattr(self, f"l{layer}")
            weights = [cell.ih.weight, cell.hh.weight, cell.ih.bias, cell.hh.bias]
            zeros = x.new_zeros(1, len(x), self.hidden_size)
            state = (zeros, zeros) if self.cell == "lstm" else zeros
            with torch.no_grad():
                # (input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                # batch_first), as nn.LSTM calls it.
                outputs, *final = _FUSED[self.cell](
                    x, state, weights, True, 1, 0.0, False, False, True
                )
            if torch.is_grad_enabled():
                # The fused pass gave every h_{t-1}: both maps become one product each, and
                # the recurrence's backward is written out below.
                previous = torch.cat([zeros.transpose(0, 1), outputs[:, :-1].detach()], 1)
                outputs = _RECURRENCES[self.cell].apply(
                    cell.ih(x), cell.hh(previous), previous, cell.hh.weight.detach()
                )
            x = outputs
            finals.append(final)
        states = [torch.cat(parts) for parts in zip(*finals, strict=True)]
        return x, (tuple(states) if self.cell == "lstm" else states[0])


class _ElmanRecurrence(torch.autograd.Function):
    """``h_t = tanh(gx_t + gh_t)`` given the gates of both maps; the backward carries
    ``dh_{t-1} += dgates_t W_hh`` through time."""

    @staticmethod
    def forward(ctx, gates_x, gates_h, previous, weight_hh):
        h = torch.tanh(gates_x + gates_h)
        ctx.save_for_backward(h, weight_hh)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        h, weight_hh = ctx.saved_tensors
        grads, carried = [], 0
        for grad, slope in zip(grad_h.unbind(1)[::-1], (1 - h * h).unbind(1)[::-1], strict=True):
            grads.append((grad + carried) * slope)
            carried = grads[-1] @ weight_hh
        grads = torch.stack(grads[::-1], 1)
        return grads, grads, None, None


class _LSTMRecurrence(torch.autograd.Function):
    """The LSTM cell state and output from all gates; the backward carries ``dh`` and ``dc``."""

    @staticmethod
    def forward(ctx, gates_x, gates_h, previous, weight_hh):
        i, f, g, o = (gates_x + gates_h).chunk(4, 2)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        states = [torch.zeros_like(g[:, 0])]
        for inputs, forget in zip((i * g).unbind(1), f.unbind(1), strict=True):
            states.append(torch.addcmul(inputs, forget, states[-1]))
        c = torch.stack(states, 1)  # c_0 = 0, c_1, ..., c_T
        tanh_c = torch.tanh(c[:, 1:])
        ctx.save_for_backward(i, f, g, o, c, tanh_c, weight_hh)
        return o * tanh_c

    @staticmethod
    def backward(ctx, grad_h):
        i, f, g, o, c, tanh_c, weight_hh = ctx.saved_tensors
        batch, length, hidden = g.shape
        # d gates i, f, g / d c_t and d gate o / d h_t, for all steps at once.
        by_c = torch.stack([g * i * (1 - i), c[:, :-1] * f * (1 - f), i * (1 - g * g)], 2)
        by_h = tanh_c * o * (1 - o)
        c_by_h = o * (1 - tanh_c * tanh_c)
        f_next = torch.cat([f[:, 1:], torch.zeros_like(f[:, :1])], 1)
        steps = zip(*(x.unbind(1)[::-1] for x in (grad_h, by_c, by_h, c_by_h, f_next)), strict=True)
        grads, carried, grad_c = [], 0, torch.zeros_like(c[:, 0])
        for grad, step_by_c, step_by_h, step_c_by_h, forget_next in steps:
            grad = grad + carried
            grad_c = torch.addcmul(grad * step_c_by_h, grad_c, forget_next)
            gates_c = (step_by_c * grad_c.unsqueeze(1)).reshape(batch, 3 * hidden)
            grads.append(torch.cat([gates_c, grad * step_by_h], 1))
            carried = grads[-1] @ weight_hh
        grads = torch.stack(grads[::-1], 1)
        return grads, grads, None, None


class _GRURecurrence(torch.autograd.Function):
    """``h_t = n + z (h_{t-1} - n)`` with ``n = tanh(x_n + r h_n)``; each step's gradients are
    linear in ``dh_t``, so their coefficients are formed for all steps at once."""

    @staticmethod
    def forward(ctx, gates_x, gates_h, previous, weight_hh):
        x_r, x_z, x_n = gates_x.chunk(3, 2)
        h_r, h_z, h_n = gates_h.chunk(3, 2)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        ctx.save_for_backward(r, z, n, h_n, previous, weight_hh)
        return n + z * (previous - n)

    @staticmethod
    def backward(ctx, grad_h):
        r, z, n, h_n, previous, weight_hh = ctx.saved_tensors
        batch, length, hidden = n.shape
        by_n = (1 - z) * (1 - n * n)
        by_r = by_n * h_n * r * (1 - r)
        by_z = (previous - n) * z * (1 - z)
        by_x = torch.stack([by_r, by_z, by_n], 2)
        by_h = torch.stack([by_r, by_z, by_n * r], 2)
        steps = zip(*(x.unbind(1)[::-1] for x in (grad_h, by_x, by_h, z)), strict=True)
        grads_x, grads_h, carried = [], [], 0
        for grad, step_by_x, step_by_h, step_z in steps:
            grad = grad + carried
            grads_x.append((step_by_x * grad.unsqueeze(1)).reshape(batch, 3 * hidden))
            grads_h.append((step_by_h * grad.unsqueeze(1)).reshape(batch, 3 * hidden))
            carried = torch.addcmul(grads_h[-1] @ weight_hh, grad, step_z)
        return torch.stack(grads_x[::-1], 1), torch.stack(grads_h[::-1], 1), None, None


_FUSED = {"rnn": torch.rnn_tanh, "lstm": torch.lstm, "gru": torch.gru}
_RECURRENCES = {"rnn": _ElmanRecurrence, "lstm": _LSTMRecurrence, "gru": _GRURecurrence}


def _add_torch_names(module: BatchedRecurrent, state_dict: dict, prefix: str, _meta) -> None:
    for ours, theirs in module._to_torch.items():
        state_dict[prefix + theirs] = state_dict[prefix + ours]


def _rename_loaded(module: BatchedRecurrent, state_dict: dict, prefix: str, *_args) -> None:
    for ours, theirs in module._to_torch.items():
        if prefix + theirs in state_dict:
            state_dict.setdefault(prefix + ours, state_dict.pop(prefix + theirs))
