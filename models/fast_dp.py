"""raikit's fast DP-SGD engine: per-example clipping without per-example gradients.

Book-keeping clipping (Bu et al. 2023): forward hooks keep each layer's input ``a``, tensor
hooks keep the gradient ``b`` of its output; after the one ordinary backward the per-example
gradient norms follow from ``a`` and ``b`` alone (ghost norms, Li et al. 2022) and the clipped
sum ``sum_i c_i g_i`` is one weighted product per layer. For a Linear layer with input
``(B, d)`` the norm is ``||a_i|| ||b_i||``; with a sequence ``(B, T, d)`` it is
``<a_i a_i^T, b_i b_i^T>`` (the ``T x T`` Gram trick) or the materialised ``b_i^T a_i``,
whichever is cheaper. Convolutions are Linear layers over unfolded patches, an Embedding
compares token indices, and LayerNorm/GroupNorm form their small per-example gradients
directly. A layer called several times in one forward is exact: its calls are one longer
sequence.

Clipping, noise and scaling follow Opacus' ``DPOptimizer`` (clip factor
``min(1, C / (norm + 1e-6))``, noise ``N(0, sigma^2 C^2)`` on the clipped sum, division by the
expected batch size), which this engine's optimizer extends, so Poisson sampling,
``BatchMemoryManager`` and the accountants are Opacus' own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from opacus.optimizers import DPOptimizer
from torch import nn

#: Modules whose forward the engine knows to treat each example on its own.
_PER_EXAMPLE_SAFE = ("torch.nn.modules",)


def unsupported_reason(module: nn.Module) -> str | None:
    """Why the fast engine cannot train ``module`` exactly, or ``None`` when it can.

    Every trainable parameter must live directly in a supported layer, each parameter in one
    layer only (tied weights are refused), and every module must be a ``torch.nn`` building
    block, whose forward never mixes examples (custom forwards are not checked).
    """
    owners: dict[int, tuple[nn.Module, str]] = {}
    for name, sub in module.named_modules(remove_duplicate=False):
        if not type(sub).__module__.startswith(_PER_EXAMPLE_SAFE):
            return f"module '{name or 'model'}' ({type(sub).__name__}) is not a torch.nn layer"
        if isinstance(sub, nn.modules.batchnorm._BatchNorm):
            return f"layer '{name}' ({type(sub).__name__}) mixes the examples of a batch"
        trainable = [p for p in sub.parameters(recurse=False) if p.requires_grad]
        if not trainable:
            continue
        if type(sub) not in _LAYERS:
            return f"layer '{name}' ({type(sub).__name__}) has no fast per-example rule"
        why = _LAYERS[type(sub)].refuse(sub)
        if why:
            return f"layer '{name}': {why}"
        for p in trainable:
            owner, owner_name = owners.setdefault(id(p), (sub, name))
            if owner is not sub:
                return f"parameter shared by layers '{owner_name}' and '{name}' (tied weights)"
    return None


class BookkeepingHooks:
    """The hooks on every layer with trainable parameters, and what they saw since the last step.

    Parameters
    ----------
    module : nn.Module
        A module for which :func:`unsupported_reason` is ``None``.
    loss_reduction : {"mean", "sum"}
        How the loss aggregates examples; with ``"mean"`` the output gradients are scaled by the
        batch size, as Opacus does, so that ``g_i`` is the gradient of example ``i``'s own loss.
    """

    def __init__(self, module: nn.Module, loss_reduction: str = "mean") -> None:
        self.loss_reduction = loss_reduction
        self.layers = [
            m for m in module.modules() if any(p.requires_grad for p in m.parameters(False))
        ]
        self.records: dict[nn.Module, list[list]] = {m: [] for m in self.layers}
        self.handles = [m.register_forward_hook(self._forward) for m in self.layers]

    def _forward(self, layer: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if not (torch.is_grad_enabled() and layer.training and output.requires_grad):
            return
        record = [inputs[0].detach(), None]
        self.records[layer].append(record)

        def keep(grad: torch.Tensor) -> None:
            record[1] = grad.detach() if record[1] is None else record[1] + grad.detach()

        output.register_hook(keep)

    def remove(self) -> None:
        """Remove every hook and forget what was recorded."""
        for handle in self.handles:
            handle.remove()
        self.handles = []
        self.clear()

    def clear(self) -> None:
        """Forget the recorded activations and gradients."""
        for records in self.records.values():
            records.clear()

    def _pairs(self, layer: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
        pairs = [(a, b) for a, b in self.records[layer] if b is not None]
        if self.loss_reduction == "mean":
            pairs = [(a, b * a.shape[0]) for a, b in pairs]
        return pairs

    def per_example_norms(self) -> torch.Tensor:
        """The norm of each example's whole gradient, shape ``(B,)``."""
        squares = [
            _LAYERS[type(layer)].squared_norms(layer, pairs)
            for layer in self.layers
            if (pairs := self._pairs(layer))
        ]
        return torch.stack(squares).sum(0).sqrt()

    def accumulate_clipped(self, max_grad_norm: float) -> torch.Tensor:
        """Add ``sum_i c_i g_i`` to each parameter's ``summed_grad``; return the norms.

        A trainable parameter that took no part in the forward gets a zero sum (the noise
        still covers it).
        """
        norms = self.per_example_norms()
        factors = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        for layer in self.layers:
            pairs = self._pairs(layer)
            sums = _LAYERS[type(layer)].clipped_sums(layer, pairs, factors) if pairs else {}
            for name, p in layer.named_parameters(recurse=False):
                if not p.requires_grad:
                    continue
                grad = sums.get(name, torch.zeros_like(p)).to(p.dtype)
                p.summed_grad = grad if p.summed_grad is None else p.summed_grad + grad
        self.clear()
        return norms


class BookkeepingOptimizer(DPOptimizer):
    """Opacus' ``DPOptimizer`` whose clipping reads :class:`BookkeepingHooks` instead of
    ``p.grad_sample``; noise, scaling, skipped steps and the accountant hook are inherited."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, hooks: BookkeepingHooks, **kwargs):
        super().__init__(optimizer, **kwargs)
        self.hooks = hooks
        self.last_norms: torch.Tensor | None = None

    @property
    def accumulated_iterations(self) -> int:
        # Poisson sampling forbids several forward/backward passes per (physical) step.
        return 1

    def clip_and_accumulate(self) -> None:
        self.last_norms = self.hooks.accumulate_clipped(self.max_grad_norm)

    def zero_grad(self, set_to_none: bool = False) -> None:
        self.hooks.clear()
        super().zero_grad(set_to_none)

    def pre_step(self, closure: Callable | None = None) -> bool:
        self.clip_and_accumulate()
        if self._check_skip_next_step():
            self._is_last_step_skipped = True
            return False
        self.add_noise()
        self.scale_grad()
        if self.step_hook:
            self.step_hook(self)
        self._is_last_step_skipped = False
        return True


class BookkeepingModule(nn.Module):
    """``module`` with the engine's hooks; ``_close()`` removes them (as Opacus' wrapper)."""

    def __init__(self, module: nn.Module, hooks: BookkeepingHooks) -> None:
        super().__init__()
        self._module = module
        self.hooks = hooks

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._module(*args, **kwargs)

    def _close(self) -> None:
        self.hooks.remove()


# --- per-layer rules ---------------------------------------------------------------------


class _Rule:
    """How one layer type yields per-example squared norms and clipped sums from (a, b)."""

    def refuse(self, layer: nn.Module) -> str | None:
        return None

    def squared_norms(self, layer: nn.Module, pairs: list) -> torch.Tensor:
        raise NotImplementedError

    def clipped_sums(self, layer: nn.Module, pairs: list, factors: torch.Tensor) -> dict:
        raise NotImplementedError


def _weight_norms(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``||b_i^T a_i||_F^2`` for ``a (B, T, d)``, ``b (B, T, p)``, by the cheaper route."""
    _, length, d = a.shape
    p = b.shape[-1]
    if length == 1:
        return a.pow(2).sum((1, 2)) * b.pow(2).sum((1, 2))
    if length * (d + p) < d * p:  # two T x T Gram matrices cost less than the gradients
        return (a @ a.transpose(1, 2) * (b @ b.transpose(1, 2))).sum((1, 2))
    return torch.einsum("btp,btd->bpd", b, a).pow(2).sum((1, 2))


def _weighted_product(a: torch.Tensor, b: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """``sum_i c_i b_i^T a_i`` as one matrix product, shape ``(p, d)``."""
    weighted = b * factors.view(-1, 1, 1)
    return weighted.reshape(-1, b.shape[-1]).T @ a.reshape(-1, a.shape[-1])


class _LinearRule(_Rule):
    """Linear over ``(B, ..., d)``: all middle axes form one sequence; several calls concatenate."""

    def _sequences(self, layer: nn.Module, pairs: list) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.cat([self._input(layer, a) for a, _ in pairs], 1)
        b = torch.cat([self._output(layer, b) for _, b in pairs], 1)
        return a, b

    def _input(self, layer: nn.Module, a: torch.Tensor) -> torch.Tensor:
        return a.reshape(a.shape[0], -1, a.shape[-1])

    def _output(self, layer: nn.Module, b: torch.Tensor) -> torch.Tensor:
        return b.reshape(b.shape[0], -1, b.shape[-1])

    def squared_norms(self, layer: nn.Module, pairs: list) -> torch.Tensor:
        a, b = self._sequences(layer, pairs)
        norms = _weight_norms(a, b) if layer.weight.requires_grad else 0.0
        if layer.bias is not None and layer.bias.requires_grad:
            norms = norms + b.sum(1).pow(2).sum(1)
        return norms

    def clipped_sums(self, layer: nn.Module, pairs: list, factors: torch.Tensor) -> dict:
        a, b = self._sequences(layer, pairs)
        sums = {}
        if layer.weight.requires_grad:
            sums["weight"] = _weighted_product(a, b, factors).view_as(layer.weight)
        if layer.bias is not None and layer.bias.requires_grad:
            sums["bias"] = torch.einsum("b,btp->p", factors, b)
        return sums


class _ConvRule(_LinearRule):
    """Conv1d/Conv2d as a Linear layer over the unfolded input patches."""

    def refuse(self, layer: nn.Module) -> str | None:
        if layer.groups != 1:
            return "grouped convolutions have no fast rule yet"
        if isinstance(layer.padding, str) or layer.padding_mode != "zeros":
            return "only numeric zero padding has a fast rule"
        return None

    def _input(self, layer: nn.Module, a: torch.Tensor) -> torch.Tensor:
        if isinstance(layer, nn.Conv1d):
            a = a.unsqueeze(2)
            size = dict(kernel_size=(1, *layer.kernel_size), dilation=(1, *layer.dilation))
            size |= dict(padding=(0, *layer.padding), stride=(1, *layer.stride))
        else:
            size = dict(kernel_size=layer.kernel_size, dilation=layer.dilation)
            size |= dict(padding=layer.padding, stride=layer.stride)
        return F.unfold(a, **size).transpose(1, 2)  # (B, positions, C * kernel)

    def _output(self, layer: nn.Module, b: torch.Tensor) -> torch.Tensor:
        return b.reshape(b.shape[0], b.shape[1], -1).transpose(1, 2)  # (B, positions, out)


class _EmbeddingRule(_Rule):
    """Embedding: example ``i``'s gradient adds ``b_t`` to row ``x_t``; positions holding the
    same token add up (``sum_{t,s} [x_t = x_s] b_t . b_s``), ``padding_idx`` rows get nothing."""

    def refuse(self, layer: nn.Module) -> str | None:
        if layer.max_norm is not None or layer.scale_grad_by_freq or layer.sparse:
            return "max_norm, scale_grad_by_freq and sparse embeddings have no fast rule"
        return None

    def _sequences(self, layer: nn.Module, pairs: list) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([a.reshape(a.shape[0], -1) for a, _ in pairs], 1)
        b = torch.cat([b.reshape(b.shape[0], -1, b.shape[-1]) for _, b in pairs], 1)
        if layer.padding_idx is not None:
            b = b * (x != layer.padding_idx).unsqueeze(-1)
        return x, b

    def squared_norms(self, layer: nn.Module, pairs: list) -> torch.Tensor:
        x, b = self._sequences(layer, pairs)
        same = x.unsqueeze(2) == x.unsqueeze(1)
        return ((b @ b.transpose(1, 2)) * same).sum((1, 2))

    def clipped_sums(self, layer: nn.Module, pairs: list, factors: torch.Tensor) -> dict:
        x, b = self._sequences(layer, pairs)
        weighted = (b * factors.view(-1, 1, 1)).reshape(-1, b.shape[-1])
        grad = torch.zeros_like(layer.weight).index_add_(0, x.reshape(-1), weighted)
        return {"weight": grad}


class _NormRule(_Rule):
    """LayerNorm/GroupNorm: per-example gradients of the affine parameters are small; form them."""

    def _per_example(self, layer: nn.Module, pairs: list) -> dict[str, torch.Tensor]:
        grads: dict[str, torch.Tensor] = {}
        for a, b in pairs:
            if isinstance(layer, nn.LayerNorm):
                normalized = F.layer_norm(a, layer.normalized_shape, eps=layer.eps)
                axes = tuple(range(1, a.dim() - len(layer.normalized_shape)))
            else:
                normalized = F.group_norm(a, layer.num_groups, eps=layer.eps)
                axes = tuple(range(2, a.dim()))
            parts = {"weight": (b * normalized).sum(axes), "bias": b.sum(axes)}
            for name, grad in parts.items():
                grads[name] = grad if name not in grads else grads[name] + grad
        return {
            name: grad
            for name, grad in grads.items()
            if getattr(layer, name) is not None and getattr(layer, name).requires_grad
        }

    def squared_norms(self, layer: nn.Module, pairs: list) -> torch.Tensor:
        grads = self._per_example(layer, pairs)
        return sum(g.reshape(len(g), -1).pow(2).sum(1) for g in grads.values())

    def clipped_sums(self, layer: nn.Module, pairs: list, factors: torch.Tensor) -> dict:
        grads = self._per_example(layer, pairs)
        return {name: torch.einsum("b,b...->...", factors, g) for name, g in grads.items()}


_LAYERS: dict[type, _Rule] = {
    nn.Linear: _LinearRule(),
    nn.Conv1d: _ConvRule(),
    nn.Conv2d: _ConvRule(),
    nn.Embedding: _EmbeddingRule(),
    nn.LayerNorm: _NormRule(),
    nn.GroupNorm: _NormRule(),
}


def make_private(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    data_loader: Any,
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    accountant: Any,
) -> tuple[BookkeepingModule, BookkeepingOptimizer, Any]:
    """Opacus' ``make_private`` (Poisson sampling, mean loss) with this engine's clipping.

    Returns the hooked module (``_close()`` removes the hooks), the DP optimizer, whose steps
    ``accountant`` records, and the Poisson-sampling loader.
    """
    from opacus.data_loader import DPDataLoader

    loader = DPDataLoader.from_data_loader(data_loader)
    sample_rate = 1 / len(loader)
    hooks = BookkeepingHooks(module)
    private_optimizer = BookkeepingOptimizer(
        optimizer,
        hooks=hooks,
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        expected_batch_size=int(len(loader.dataset) * sample_rate),
    )
    private_optimizer.attach_step_hook(accountant.get_optimizer_hook_fn(sample_rate=sample_rate))
    return BookkeepingModule(module, hooks), private_optimizer, loader
