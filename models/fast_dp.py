"""raikit's fast DP-SGD engine: per-example clipping without per-example gradients.

Book-keeping clipping (Bu et al. 2023): forward hooks keep each layer's input ``a``, tensor
hooks keep the gradient ``b`` of its output; after the one ordinary backward the per-example
gradient norms follow from ``a`` and ``b`` alone (ghost norms, Li et al. 2022) and the clipped
sum ``sum_i c_i g_i`` is one weighted product per layer. For a Linear layer with input
``(B, d)`` the norm is ``||a_i|| ||b_i||``; with a sequence ``(B, T, d)`` it is
``<a_i a_i^T, b_i b_i^T>`` (the ``T x T`` Gram trick) or the materialised ``b_i^T a_i``,
whichever is cheaper; layers that read one input (attention's query, key and value) share
its Gram matrix and its clip-weighted copy. A convolution's per-example gradients come from
one grouped convolution backward, an Embedding compares token indices, and LayerNorm/GroupNorm
form their small per-example gradients directly. A layer called several times in one forward
is exact: its calls add up as one longer sequence. The training forward keeps the parameters
out of autograd's graph, so the backward computes no unclipped parameter gradient.

Clipping, noise and scaling follow Opacus' ``DPOptimizer`` (clip factor
``min(1, C / (norm + 1e-6))``, noise ``N(0, sigma^2 C^2)`` on the clipped sum, division by the
expected batch size), which this engine's optimizer extends, so Poisson sampling,
``BatchMemoryManager`` and the accountants are Opacus' own. Under Opacus' ``DPDDP`` each
process clips its own share of the Poisson batch, rank 0 alone adds the noise, and the sums
are averaged across processes before the step, as Opacus' ``DistributedDPOptimizer`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from opacus.optimizers import DPOptimizer
from opacus.optimizers.optimizer import _generate_noise
from torch import nn


def unsupported_reason(module: nn.Module) -> str | None:
    """Why the fast engine cannot train ``module`` exactly, or ``None`` when it can.

    Every trainable parameter must live directly in a supported layer, each parameter in one
    layer only (tied weights are refused), and no BatchNorm may mix the examples of a batch.
    Like Opacus' hooks, the engine relies on each example's output depending on its own input
    only, which holds for every layer here and for attention over one example's tokens.
    """
    owners: dict[int, tuple[nn.Module, str]] = {}
    for name, sub in module.named_modules(remove_duplicate=False):
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

    def _forward(self, layer: nn.Module, inputs: tuple, output: torch.Tensor) -> Any:
        if not (torch.is_grad_enabled() and layer.training):
            return None
        if not output.requires_grad:
            # Parameters held back by BookkeepingModule, and no gradient flows in: the output
            # becomes a leaf, so that its gradient still reaches the hook below.
            output = output.detach().requires_grad_()
        record = [inputs[0].detach(), None]
        self.records[layer].append(record)

        def keep(grad: torch.Tensor) -> None:
            record[1] = grad.detach() if record[1] is None else record[1] + grad.detach()

        output.register_hook(keep)
        return output

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

    def _prepared(self) -> tuple[list[tuple[nn.Module, torch.Tensor, Callable]], int]:
        """``(layer, squared norms, clipped sums)`` of each layer that saw examples, from the
        unscaled output gradients, and the factor the loss reduction scales gradients by."""
        prepared, batch, shared = [], 0, {}
        for layer in self.layers:
            pairs = [(a, b) for a, b in self.records[layer] if b is not None and len(b)]
            if pairs:
                prepared.append((layer, *_LAYERS[type(layer)].prepare(layer, pairs, shared)))
                batch = len(pairs[0][1])
        # A mean loss gives example i the gradient g_i / B: Opacus' hooks multiply by B.
        return prepared, (batch if self.loss_reduction == "mean" else 1)

    @staticmethod
    def _norms(prepared: list, scale: float) -> torch.Tensor:
        if not prepared:  # an empty Poisson batch
            return torch.zeros(0)
        return torch.stack([squares for _, squares, _ in prepared]).sum(0).sqrt() * scale

    def per_example_norms(self) -> torch.Tensor:
        """The norm of each example's whole gradient, shape ``(B,)``."""
        return self._norms(*self._prepared())

    def accumulate_clipped(self, max_grad_norm: float, scale: float = 1.0) -> torch.Tensor:
        """Add ``scale * sum_i c_i g_i`` to each parameter's ``summed_grad`` in place; return
        the norms.

        A parameter without ``summed_grad`` starts from zeros; one that took no part in the
        forward keeps what it had (the noise still covers it).
        """
        prepared, reduction = self._prepared()
        norms = self._norms(prepared, reduction)
        factors = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        for layer in self.layers:
            for p in layer.parameters(recurse=False):
                if p.requires_grad and getattr(p, "summed_grad", None) is None:
                    p.summed_grad = torch.zeros_like(p, memory_format=torch.contiguous_format)
        for layer, _, add_clipped_sums in prepared:
            sums = {
                name: p.summed_grad
                for name, p in layer.named_parameters(recurse=False)
                if p.requires_grad
            }
            add_clipped_sums(factors * (reduction * scale), sums)
        self.clear()
        return norms


class BookkeepingOptimizer(DPOptimizer):
    """Opacus' ``DPOptimizer`` whose clipping reads :class:`BookkeepingHooks` instead of
    ``p.grad_sample``; scaling, skipped steps and the accountant hook are inherited.

    The noise is Opacus' (``N(0, sigma^2 C^2)`` per coordinate, its generator and secure
    mode), drawn once per logical batch into buffers kept from step to step, to which the
    clipped sums are then added in place: fresh model-sized tensors each step cost more in
    page faults than the arithmetic. After a step ``p.grad`` is that buffer, so ``zero_grad``
    always sets it to ``None`` rather than zeroing it. The division by the expected batch size
    is folded into the noise's deviation and the clip factors, sparing a pass over the model.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        hooks: BookkeepingHooks,
        rank: int = 0,
        world_size: int = 1,
        **kwargs,
    ):
        super().__init__(optimizer, **kwargs)
        self.hooks = hooks
        self.rank, self.world_size = rank, world_size
        self.last_norms: torch.Tensor | None = None
        self._noise = [
            torch.empty_like(p, memory_format=torch.contiguous_format) for p in self.params
        ]

    @property
    def accumulated_iterations(self) -> int:
        # Poisson sampling forbids several forward/backward passes per (physical) step.
        return 1

    def clip_and_accumulate(self) -> None:
        if any(getattr(p, "summed_grad", None) is None for p in self.params):
            self._draw_noise()  # a new logical batch: its sums start from the noise
        self.last_norms = self.hooks.accumulate_clipped(self.max_grad_norm, self._grad_scale())

    def _grad_scale(self) -> float:
        """What Opacus' ``scale_grad`` multiplies the noisy sum by."""
        return 1 / self.expected_batch_size if self.loss_reduction == "mean" else 1.0

    def scale_grad(self) -> None:
        """Nothing left to do: the noise and the clipped sums arrive scaled."""

    def _draw_noise(self) -> None:
        std = self.noise_multiplier * self.max_grad_norm * self._grad_scale()
        for p, noise in zip(self.params, self._noise, strict=True):
            if self.rank != 0:  # one process adds the batch's noise; the others add none
                noise.zero_()
            elif std > 0 and not self.secure_mode:
                noise.normal_(0, std, generator=self.generator)
            else:
                noise.copy_(_generate_noise(std, noise, self.generator, self.secure_mode))
            p.summed_grad = noise

    def add_noise(self) -> None:
        for p in self.params:  # the noise is in already; the next batch draws its own
            p.grad, p.summed_grad = p.summed_grad, None

    def zero_grad(self, set_to_none: bool = False) -> None:
        self.hooks.clear()
        for p in self.params:
            p.grad = None  # the noise buffer, which the next logical batch refills
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
        if self.world_size > 1:
            self._average_across_processes()
        return True

    def _average_across_processes(self) -> None:
        """Each process's scaled sum, averaged: the whole batch's clipped sum plus one noise."""
        for p in self.params:
            torch.distributed.all_reduce(p.grad, op=torch.distributed.ReduceOp.SUM)
            p.grad /= self.world_size


class BookkeepingModule(nn.Module):
    """``module`` with the engine's hooks; ``_close()`` removes them (as Opacus' wrapper).

    A training forward runs with the trainable parameters out of autograd's graph: the
    backward then computes only the gradients flowing between layers, none of the (unclipped)
    parameter gradients the clipped sums replace.
    """

    def __init__(self, module: nn.Module, hooks: BookkeepingHooks) -> None:
        super().__init__()
        self._module = module
        self.hooks = hooks

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not (torch.is_grad_enabled() and self.training):
            return self._module(*args, **kwargs)
        self.hooks.clear()  # what an earlier forward left without a step is not this batch's
        held = [p for p in self._module.parameters() if p.requires_grad]
        try:
            for p in held:
                p.requires_grad_(False)
            return self._module(*args, **kwargs)
        finally:
            for p in held:
                p.requires_grad_(True)

    def _close(self) -> None:
        self.hooks.remove()


# --- per-layer rules ---------------------------------------------------------------------
#
# ``prepare(layer, pairs, shared)`` turns the recorded (input, output gradient) pairs of one
# layer into each example's squared gradient norm ``(B,)`` and a function ``(factors, sums)``
# that adds ``sum_i c_i g_i`` in place to ``sums[name]`` for each of the layer's trainable
# parameters, sharing the work the two need. ``shared`` lives for one step: layers that read
# the same input (attention's query, key and value) reuse what was derived from it.


class _Rule:
    def refuse(self, layer: nn.Module) -> str | None:
        return None

    def prepare(self, layer: nn.Module, pairs: list, shared: dict) -> tuple[torch.Tensor, Callable]:
        raise NotImplementedError


def _from_per_example(grads: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Callable]:
    """Norms and clipped sums of materialised per-example gradients ``{name: (B, ...)}``."""
    flat = {name: g.reshape(len(g), -1) for name, g in grads.items()}
    squares = sum(torch.linalg.vector_norm(g, dim=1).square() for g in flat.values())

    def add_clipped_sums(factors: torch.Tensor, sums: dict) -> None:
        for name, g in flat.items():
            sums[name].view(-1).addmv_(g.T, factors)

    return squares, add_clipped_sums


def _reuse(shared: dict, kind: str, parts: list[torch.Tensor], make: Callable) -> torch.Tensor:
    """``make()``, or what it gave the layer before if that layer read the same input ``parts``.

    One entry per kind, so nothing is held past the next layer; the version counter tells an
    input changed in place from the one recorded.
    """
    key = tuple((t.data_ptr(), t.shape, t.stride(), t._version) for t in parts)
    held = shared.get(kind)
    if held is None or held[0] != key:
        held = shared[kind] = (key, make())
    return held[1]


def _trainable(layer: nn.Module, name: str) -> bool:
    p = getattr(layer, name)
    return p is not None and p.requires_grad


class _LinearRule(_Rule):
    """Linear over ``(B, ..., d)``: the middle axes form one sequence; several calls concatenate.

    The weight's norms come from ``||a_i|| ||b_i||`` (one position), the two ``T x T`` Gram
    matrices, or the materialised ``b_i^T a_i``, whichever costs least.
    """

    def prepare(self, layer: nn.Module, pairs: list, shared: dict) -> tuple[torch.Tensor, Callable]:
        inputs = [a for a, _ in pairs]
        a = _cat([a.reshape(a.shape[0], -1, a.shape[-1]) for a in inputs])
        b = _cat([b.reshape(b.shape[0], -1, b.shape[-1]) for _, b in pairs])
        length, d, p = a.shape[1], a.shape[2], b.shape[2]
        weight, bias = _trainable(layer, "weight"), _trainable(layer, "bias")
        if length == 1:
            return self._one_position(a[:, 0], b[:, 0], weight, bias)
        if weight and d * p <= length * (d + p):
            grads = {"weight": torch.bmm(b.transpose(1, 2), a)}  # (B, p, d)
            if bias:
                grads["bias"] = b.sum(1)
            return _from_per_example(grads)
        b_sums = b.sum(1) if bias else None
        squares = b_sums.square().sum(1) if bias else 0.0
        if weight:
            a_gram = _reuse(shared, "gram", inputs, lambda: torch.bmm(a, a.transpose(1, 2)))
            squares = squares + (a_gram * torch.bmm(b, b.transpose(1, 2))).sum((1, 2))

        def add_clipped_sums(factors: torch.Tensor, sums: dict) -> None:
            if weight and d <= p:  # weigh the narrower side: the input, once for its readers
                weighted = _reuse(shared, "weighted", inputs, lambda: a * factors.view(-1, 1, 1))
                sums["weight"].addmm_(b.reshape(-1, p).T, weighted.reshape(-1, d))
            elif weight:
                weighted = b * factors.view(-1, 1, 1)
                sums["weight"].addmm_(weighted.reshape(-1, p).T, a.reshape(-1, d))
            if bias:
                sums["bias"].addmv_(b_sums.T, factors)

        return squares, add_clipped_sums

    @staticmethod
    def _one_position(a: torch.Tensor, b: torch.Tensor, weight: bool, bias: bool):
        """``(B, d)`` inputs: ``||g_i||^2 = ||a_i||^2 ||b_i||^2 (+ ||b_i||^2 for the bias)``."""
        b_squares = b.pow(2).sum(1)
        if weight and bias:
            squares = b_squares * (a.pow(2).sum(1) + 1)
        else:
            squares = b_squares * a.pow(2).sum(1) if weight else b_squares

        def add_clipped_sums(factors: torch.Tensor, sums: dict) -> None:
            weighted = b * factors.unsqueeze(1)
            if weight:
                sums["weight"].addmm_(weighted.T, a)
            if bias:
                sums["bias"].add_(weighted.sum(0))

        return squares, add_clipped_sums


def _cat(parts: list[torch.Tensor]) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


class _ConvRule(_Rule):
    """Conv1d/Conv2d: per-example weight gradients by one grouped convolution backward (the
    batch folded into the groups), far cheaper than unfolding the input into patches."""

    def refuse(self, layer: nn.Module) -> str | None:
        if isinstance(layer.padding, str) or layer.padding_mode != "zeros":
            return "only numeric zero padding has a fast rule"
        return None

    def prepare(self, layer: nn.Module, pairs: list, shared: dict) -> tuple[torch.Tensor, Callable]:
        grads: dict[str, torch.Tensor] = {}
        for a, b in pairs:
            parts = {}
            if _trainable(layer, "weight"):
                parts["weight"] = self._weight_per_example(layer, a, b)
            if _trainable(layer, "bias"):
                parts["bias"] = b.reshape(b.shape[0], b.shape[1], -1).sum(2)
            for name, grad in parts.items():
                grads[name] = grad if name not in grads else grads[name] + grad
        return _from_per_example(grads)

    @staticmethod
    def _weight_per_example(layer: nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        batch, weight = a.shape[0], layer.weight
        folded_weight = weight.detach().repeat(batch, *([1] * (weight.dim() - 1)))
        _, grad, _ = torch.ops.aten.convolution_backward(
            b.reshape(1, -1, *b.shape[2:]),
            a.reshape(1, -1, *a.shape[2:]),
            folded_weight,
            None,
            list(layer.stride),
            list(layer.padding),
            list(layer.dilation),
            False,
            [0] * len(layer.stride),
            batch * layer.groups,
            [False, True, False],
        )
        return grad.reshape(batch, *weight.shape)


class _EmbeddingRule(_Rule):
    """Embedding: example ``i``'s gradient adds ``b_t`` to row ``x_t``; positions holding the
    same token add up (``sum_{t,s} [x_t = x_s] b_t . b_s``), ``padding_idx`` rows get nothing."""

    def refuse(self, layer: nn.Module) -> str | None:
        if layer.max_norm is not None or layer.scale_grad_by_freq or layer.sparse:
            return "max_norm, scale_grad_by_freq and sparse embeddings have no fast rule"
        return None

    def prepare(self, layer: nn.Module, pairs: list, shared: dict) -> tuple[torch.Tensor, Callable]:
        # Indices shared by the batch (position ids of shape (1, T)) belong to every example.
        x = _cat([a.expand(len(b), *a.shape[1:]).reshape(len(b), -1) for a, b in pairs])
        b = _cat([b.reshape(b.shape[0], -1, b.shape[-1]) for _, b in pairs])
        if layer.padding_idx is not None:
            b = b * (x != layer.padding_idx).unsqueeze(-1)
        same = x.unsqueeze(2) == x.unsqueeze(1)
        squares = (torch.bmm(b, b.transpose(1, 2)) * same).sum((1, 2))

        def add_clipped_sums(factors: torch.Tensor, sums: dict) -> None:
            weighted = (b * factors.view(-1, 1, 1)).reshape(-1, b.shape[-1])
            sums["weight"].index_add_(0, x.reshape(-1), weighted)

        return squares, add_clipped_sums


class _NormRule(_Rule):
    """LayerNorm/GroupNorm: per-example gradients of the affine parameters are small; form them."""

    def prepare(self, layer: nn.Module, pairs: list, shared: dict) -> tuple[torch.Tensor, Callable]:
        grads: dict[str, torch.Tensor] = {}
        for a, b in pairs:
            if isinstance(layer, nn.LayerNorm):
                normalized = F.layer_norm(a, layer.normalized_shape, eps=layer.eps)
                axes = tuple(range(1, a.dim() - len(layer.normalized_shape)))
            else:
                normalized = F.group_norm(a, layer.num_groups, eps=layer.eps)
                axes = tuple(range(2, a.dim()))
            # Over the positions that share the parameters (none for a ``(B, d)`` input:
            # ``sum(())`` would sum every axis).
            parts = {"weight": b * normalized, "bias": b}
            if axes:
                parts = {name: grad.sum(axes) for name, grad in parts.items()}
            for name, grad in parts.items():
                if _trainable(layer, name):
                    grads[name] = grad if name not in grads else grads[name] + grad
        return _from_per_example(grads)


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

    ``module`` may be wrapped in Opacus' ``DPDDP``: each process then samples its shard at
    the same rate and the optimizer combines the processes' sums. Returns the hooked module
    (``_close()`` removes the hooks), the DP optimizer, whose steps ``accountant`` records, and
    the Poisson-sampling loader.
    """
    from opacus.data_loader import DPDataLoader
    from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP

    distributed = isinstance(module, DPDDP)
    rank, world_size = (
        (torch.distributed.get_rank(), torch.distributed.get_world_size())
        if distributed
        else (0, 1)
    )
    loader = DPDataLoader.from_data_loader(data_loader, distributed=distributed)
    sample_rate = 1 / len(loader)
    hooks = BookkeepingHooks(module)
    private_optimizer = BookkeepingOptimizer(
        optimizer,
        hooks=hooks,
        rank=rank,
        world_size=world_size,
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        # Per process, as Opacus counts it: the processes' averages make the batch's mean.
        expected_batch_size=int(len(loader.dataset) * sample_rate) / world_size,
    )
    private_optimizer.attach_step_hook(accountant.get_optimizer_hook_fn(sample_rate=sample_rate))
    return BookkeepingModule(module, hooks), private_optimizer, loader
