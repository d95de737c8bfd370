"""FGSM and PGD (L-infinity and L2) on any raikit torch model, batched, over a radius sweep.

Why a short torch implementation rather than IBM's adversarial-robustness-toolbox or
torchattacks: the attacks are a dozen lines of autograd each; raikit needs them to run on
its own modules as they are (the tabular MLP on encoded rows, the CNN on pixels, the RNN and
transformer through a hook on their embedding layer), to keep the row order so every row's
outcome can be booked to its groups, and to add no heavy dependency to the core install.
``benchmarks/robustness_throughput.py`` checks this implementation against ART's
``ProjectedGradientDescent`` on the same model, inputs and settings.

Conventions (Madry et al. 2018; Goodfellow et al. 2015):

- the loss is the cross-entropy of the target class (the true label, or the model's own
  decision when there are no labels), summed over the batch so each row's gradient does not
  depend on the batch size;
- ``epsilon`` is a per-coordinate scale: the L-infinity radius is ``epsilon`` and the L2
  radius of a row is ``epsilon * sqrt(d)`` for its ``d`` attacked coordinates, so both norms
  allow the same root-mean-square change;
- PGD starts at the clean input (no random start: deterministic), takes ``steps`` steps of
  ``2.5 * radius / steps`` and projects back onto the ball (and the valid range) each time;
- FGSM is one step of the full radius.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from raikit.audit.torch_model import TorchModel

# attack name -> norm of its ball
ATTACKS: dict[str, str] = {"fgsm": "linf", "pgd_linf": "linf", "pgd_l2": "l2"}
TEXT_KINDS = ("words", "hf-tokenizer")


def _expand(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))


def _l2_normalise(t: torch.Tensor) -> torch.Tensor:
    return t / _expand(t.flatten(1).norm(dim=1).clamp_min(1e-12), t)


def _project(
    x: torch.Tensor,
    x0: torch.Tensor,
    norm: str,
    radius: torch.Tensor,
    clip: tuple[float, float] | None,
) -> torch.Tensor:
    import torch

    delta = x - x0
    if norm == "linf":
        r = _expand(radius, x)
        delta = torch.maximum(torch.minimum(delta, r), -r)
    else:
        length = delta.flatten(1).norm(dim=1)
        factor = torch.where(length > radius, radius / length.clamp_min(1e-12), 1.0)
        delta = delta * _expand(factor, delta)
    out = x0 + delta
    return out.clamp(*clip) if clip is not None else out


def perturb(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    target: torch.Tensor,
    *,
    attack: str,
    epsilon: float,
    steps: int = 10,
    mask: torch.Tensor | None = None,
    clip: tuple[float, float] | None = None,
) -> torch.Tensor:
    """The adversarial version of a batch.

    Parameters
    ----------
    forward : callable
        Maps a batch shaped like ``x0`` to logits ``(n, n_classes)``.
    x0 : torch.Tensor
        The clean batch (encoded rows, pixels or token embeddings).
    target : torch.Tensor of int64
        The class each row should keep.
    attack : {"fgsm", "pgd_linf", "pgd_l2"}
    epsilon : float
        Per-coordinate radius (see the module docstring); 0 returns ``x0``.
    steps : int
        PGD iterations.
    mask : torch.Tensor, optional
        1 where a coordinate may change, 0 where it may not (padding tokens); broadcast
        against ``x0``.
    clip : (low, high), optional
        Valid range of every coordinate (pixels).

    Returns
    -------
    torch.Tensor
        Detached, same shape as ``x0``.
    """
    import torch

    x0 = x0.detach()
    if epsilon <= 0:
        return x0.clone()
    norm = ATTACKS[attack]
    weight = torch.ones_like(x0) if mask is None else mask.expand_as(x0).to(x0.dtype)
    coordinates = weight.flatten(1).sum(dim=1).clamp_min(1.0)
    radius = (
        torch.full((len(x0),), float(epsilon), device=x0.device)
        if norm == "linf"
        else epsilon * coordinates.sqrt()
    )
    n_steps = 1 if attack == "fgsm" else steps
    step = radius if attack == "fgsm" else 2.5 * radius / steps
    x = x0.clone()
    for _ in range(n_steps):
        x.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(forward(x), target, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, x)
        gradient = gradient * weight
        direction = gradient.sign() if norm == "linf" else _l2_normalise(gradient)
        x = _project(x.detach() + _expand(step, x) * direction, x0, norm, radius, clip)
    return x.detach()


@contextlib.contextmanager
def _embedding_input(model: TorchModel):
    """Run the text module from given token embeddings: a hook replaces the layer's output.

    Yields ``(embed, set_embeddings)``: ``embed(ids)`` gives the clean embeddings and
    ``set_embeddings(e)`` fixes what the next forward passes use (``None``: the layer's
    own). The hook is removed on exit.
    """
    layer = model.embedding_layer()
    holder: dict[str, torch.Tensor] = {}

    def hook(_module, _inputs, output):
        return holder.get("embeddings", output)

    def set_embeddings(embeddings: torch.Tensor | None) -> None:
        holder.pop("embeddings", None)
        if embeddings is not None:
            holder["embeddings"] = embeddings

    handle = layer.register_forward_hook(hook)
    try:
        yield layer, set_embeddings
    finally:
        handle.remove()
        holder.clear()


def attack_sweep(
    model: TorchModel,
    tensors: Sequence[torch.Tensor],
    target: np.ndarray,
    *,
    attacks: Sequence[str],
    epsilons: Sequence[float],
    steps: int = 10,
    batch_size: int = 256,
    clip: tuple[float, float] | None = None,
    epsilon_scale: float = 1.0,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Attack every row at every radius with every attack.

    Parameters
    ----------
    model : TorchModel
        The module and how it reads its inputs.
    tensors : sequence of torch.Tensor
        The encoded rows (``model.encode(frame)``).
    target : numpy.ndarray of int
        The class each row should keep.
    attacks, epsilons
        What to run; text models are attacked in embedding space with radii multiplied by
        ``epsilon_scale``.
    device : str
        ``cpu`` or ``cuda``; the module is moved there and back.

    Returns
    -------
    dict of str to numpy.ndarray of bool, shape (len(epsilons), n_rows)
        Whether each row is still classified as its target, per attack; plus ``"clean"``
        (shape (n_rows,)).
    """
    import torch
    from tqdm.auto import tqdm

    module = model.module
    text = model.input_kind in TEXT_KINDS
    first = next(module.parameters(), None)
    home = first.device if first is not None else torch.device("cpu")
    n = len(tensors[0])
    results = {a: np.zeros((len(epsilons), n), dtype=bool) for a in attacks}
    clean = np.zeros(n, dtype=bool)
    bar = tqdm(
        total=-(-n // batch_size) * len(attacks) * len(epsilons),
        disable=not progress,
        file=sys.stderr,
        desc="adversarial",
    )
    # cuDNN's RNN refuses backward in eval mode; the attack needs eval mode (no dropout).
    cudnn = (
        torch.backends.cudnn.flags(enabled=False)
        if text and device == "cuda"
        else contextlib.nullcontext()
    )
    module.to(device)
    try:
        with cudnn, contextlib.ExitStack() as stack:
            if text:
                embed, set_embeddings = stack.enter_context(_embedding_input(model))
            for start in range(0, n, batch_size):
                batch = [t[start : start + batch_size].to(device) for t in tensors]
                y = torch.as_tensor(target[start : start + batch_size], device=device)
                if text:
                    set_embeddings(None)
                    with torch.no_grad():
                        x0 = embed(batch[0])
                    mask = (batch[0] != model.pad_token_id()).unsqueeze(-1)

                    def forward(e, batch=batch):
                        set_embeddings(e)
                        return module(*batch)

                    scale = epsilon_scale
                else:
                    x0, mask, scale = batch[0], None, 1.0

                    def forward(x, batch=batch):
                        return module(x, *batch[1:])

                with torch.no_grad():
                    clean[start : start + len(y)] = (forward(x0).argmax(dim=1) == y).cpu().numpy()
                for attack in attacks:
                    for index, epsilon in enumerate(epsilons):
                        adversarial = perturb(
                            forward,
                            x0,
                            y,
                            attack=attack,
                            epsilon=epsilon * scale,
                            steps=steps,
                            mask=mask,
                            clip=None if text else clip,
                        )
                        with torch.no_grad():
                            kept = forward(adversarial).argmax(dim=1) == y
                        results[attack][index, start : start + len(y)] = kept.cpu().numpy()
                        bar.update(1)
    finally:
        module.to(home)
        bar.close()
    return {**results, "clean": clean}


def robust_outcomes(
    outcomes: dict[str, np.ndarray], attacks: Sequence[str]
) -> dict[str, np.ndarray]:
    """Combine raw attack outcomes into what an adversary with the same budget achieves.

    A point found inside a smaller ball is also inside every larger one, and the FGSM point
    is inside the PGD L-infinity ball of the same radius; so a row counts as robust at a
    radius only if it survived every attack of that norm at that radius and at every smaller
    one. This makes robust accuracy non-increasing in the radius and PGD at least as strong
    as FGSM by construction, as the threat model says it must be.
    """
    combined = {}
    for attack in attacks:
        kept = outcomes[attack].copy()
        if attack == "pgd_linf" and "fgsm" in outcomes:
            kept &= outcomes["fgsm"]
        combined[attack] = np.logical_and.accumulate(kept, axis=0)
    return combined
