"""The one epoch loop of every architecture: optional DP-SGD, DDP, mitigation, early stopping.

Private runs (``privacy`` given) use Opacus: Poisson sampling, per-example clipping, noise,
``BatchMemoryManager`` for logical batches larger than ``max_physical_batch_size``, and they
keep the LAST model (choosing the best epoch on validation data would use that data outside
the accountant). Non-private runs keep the best validation epoch with early stopping. Each
epoch's entry holds its losses, accuracies, learning rate and, for a private run, ε so far, the
share of clipped samples and quantiles of the per-sample gradient norms. Bias
mitigation enters as options of the training loss: per-row sample weights and a fairness
penalty over sensitive-group codes (neither with DP-SGD: see :class:`~raikit.models.train.
TrainSpec`); validation losses stay the plain, unweighted ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raikit.models.errors import ConfigError


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is present, else ``cpu``; ``cuda`` without one fails."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda; got '{device}'")
    return device


@dataclass
class DistributedContext:
    """Rank and world size of a ``torchrun`` launch (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    active: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def start_distributed(device: str) -> DistributedContext:
    """Join the process group ``torchrun`` set up (gloo on CPU, nccl on GPU)."""
    import torch.distributed as dist

    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise ConfigError("--distributed must be launched by torchrun (RANK/WORLD_SIZE unset)")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        active=True,
    )


@dataclass
class LoopResult:
    """What the loop did: per-epoch history, chosen epoch, why it stopped."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    stopped_for_budget: bool = False
    stop_message: str | None = None
    optimizer_state: dict | None = None


def run_epochs(
    module: Any,
    train_tensors: tuple,
    val_tensors: tuple,
    *,
    regression: bool,
    epochs: int,
    first_epoch: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    patience: int,
    seed: int,
    device: str,
    privacy: Any = None,
    dist: DistributedContext | None = None,
    optimizer_state: dict | None = None,
    sample_weight: Any = None,
    group_codes: Any = None,
    fairness_penalty: float = 0.0,
    fairness_constraint: str = "demographic_parity",
    distill: Any = None,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
) -> LoopResult:
    """Train ``module`` in place; ``*_tensors`` are ``(*inputs, targets)``.

    Parameters
    ----------
    privacy : PrivateTraining, optional
        The Opacus engine of a private run (its accountant may hold a resumed history).
    dist : DistributedContext, optional
        Set when launched by ``torchrun --distributed``: DDP, or DPDDP when private.
    optimizer_state : dict, optional
        AdamW ``state_dict`` of a previous run, to resume with its moments; the learning
        rate and weight decay given here still apply.
    seed : int
        Shuffling and dropout of epoch ``e`` are seeded with ``seed + e``, so a run resumed
        after epoch ``k`` sees the same batches as an uninterrupted one.
    sample_weight : tensor, optional
        One non-negative weight per training row: each batch's loss is the weighted mean.
    group_codes : tensor, optional
        One integer sensitive-group code per training row, for the fairness penalty.
    fairness_penalty : float
        Weight of :func:`raikit.models.fair_training.fairness_penalty` (under
        ``fairness_constraint``) added to each batch's loss; needs ``group_codes``.
    distill : DistillTerm, optional
        Knowledge distillation (:mod:`raikit.models.distill`): the teacher's logits and the
        labelled mask of each training row, and the loss that mixes them with the labels.
    on_epoch : callable, optional
        Called with each epoch's history entry once it is complete (a TensorBoard log).
    """
    import copy
    import warnings

    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset
    from tqdm.auto import tqdm

    # Opacus' reminders that are not findings here: the secure RNG is an explicit choice
    # (recorded), and inputs never require gradients.
    warnings.filterwarnings("ignore", message="Secure RNG turned off")
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
    dist = dist or DistributedContext()
    torch.manual_seed(seed)
    raw = module.to(device)
    trainable = [p for p in raw.parameters() if p.requires_grad]
    optimizer = base_optimizer = torch.optim.AdamW(
        trainable, lr=learning_rate, weight_decay=weight_decay
    )
    if optimizer_state is not None:
        _restore(base_optimizer, optimizer_state, learning_rate, weight_decay)
    # Weights and group codes travel with their rows through shuffling, sampling and sharding.
    row_extras = [t for t in (sample_weight, group_codes) if t is not None]
    if distill is not None:
        row_extras += [distill.teacher_logits, distill.labelled]
    dataset = TensorDataset(*train_tensors, *row_extras)
    generator = torch.Generator().manual_seed(seed)
    sampler = None
    model = raw
    if dist.active:
        if privacy is not None:
            from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP

            model = DPDDP(raw)
        else:
            from torch.nn.parallel import DistributedDataParallel
            from torch.utils.data.distributed import DistributedSampler

            model = DistributedDataParallel(raw)
            sampler = DistributedSampler(dataset, seed=seed)
    if privacy is not None:  # Opacus swaps in Poisson sampling from this loader's dataset
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)
        model, optimizer, loader = privacy.attach(model, optimizer, loader)
    else:
        # Whole batches are indexed at once (a TensorDataset takes a list of rows): fetching
        # and collating row by row costs more than a small MLP's step. Same rows, same order
        # and the same draws from ``generator`` as ``DataLoader(shuffle=True)``.
        batches = BatchSampler(
            sampler or RandomSampler(dataset, generator=generator),
            max(1, batch_size // dist.world_size),
            drop_last=False,
        )
        loader = DataLoader(
            dataset,
            batch_size=None,
            sampler=batches,
            generator=generator if sampler is None else None,
        )
    loss_fn = torch.nn.MSELoss() if regression else torch.nn.CrossEntropyLoss()

    def loss_of(outputs, targets):
        return loss_fn(outputs.squeeze(-1), targets) if regression else loss_fn(outputs, targets)

    training_loss = (
        distill.loss
        if distill is not None
        else _training_loss(
            loss_of,
            regression=regression,
            weighted=sample_weight is not None,
            fairness_penalty=fairness_penalty if group_codes is not None else 0.0,
            fairness_constraint=fairness_constraint,
        )
    )
    n_inputs = len(train_tensors) - 1

    def evaluate() -> tuple[float, float]:
        raw.eval()
        total, correct, n = 0.0, 0.0, 0
        with torch.no_grad():
            for start in range(0, len(val_tensors[-1]), 256):
                batch = [t[start : start + 256].to(device) for t in val_tensors]
                outputs = raw(*batch[:-1])
                total += float(loss_of(outputs, batch[-1])) * len(batch[-1])
                if not regression:
                    correct += float((outputs.argmax(1) == batch[-1]).sum())
                n += len(batch[-1])
        loss = total / max(n, 1)
        return loss, (loss**0.5 if regression else correct / max(n, 1))

    result = LoopResult()
    best_loss, best_state = float("inf"), None
    metric = "val_rmse" if regression else "val_accuracy"
    bar = tqdm(
        range(first_epoch, first_epoch + epochs),
        desc="training",
        unit="epoch",
        disable=not progress or not dist.is_main,
    )
    for epoch in bar:
        if privacy is not None and privacy.budget_spent():
            result.stopped_for_budget = True
            result.stop_message = privacy.budget_message(last_epoch=epoch - 1)
            break
        if sampler is not None:
            sampler.set_epoch(epoch)
        torch.manual_seed(seed + epoch)
        generator.manual_seed(seed + epoch)
        raw.train()
        one_pass = _Pass(model, optimizer, training_loss, device, n_inputs, regression, privacy)
        started = time.perf_counter()
        if privacy is not None:
            from opacus.utils.batch_memory_manager import BatchMemoryManager

            physical = privacy.spec.max_physical_batch_size or batch_size
            with BatchMemoryManager(
                data_loader=loader, max_physical_batch_size=physical, optimizer=optimizer
            ) as memory_loader:
                one_pass.run(memory_loader)
        else:
            one_pass.run(loader)
        samples_per_second = one_pass.seen / max(time.perf_counter() - started, 1e-9)
        val_loss, val_metric = evaluate()
        seen = max(one_pass.seen, 1)
        entry = {
            "epoch": epoch,
            "train_loss": round(one_pass.loss_sum / seen, 6),
            "val_loss": round(val_loss, 6),
            metric: round(val_metric, 6),
        }
        if not regression:
            entry["train_accuracy"] = round(one_pass.correct / seen, 6)
        entry["learning_rate"] = base_optimizer.param_groups[0]["lr"]
        if privacy is not None:
            entry["epsilon"] = round(privacy.epsilon(), 6)
            entry |= clipping_summary(one_pass.norms, privacy.spec.max_grad_norm, dist)
        result.history.append(entry)
        if on_epoch is not None:
            on_epoch(entry)
        shown = {"loss": f"{entry['train_loss']:.4f}", "val_loss": f"{val_loss:.4f}"}
        shown["samples/s"] = f"{samples_per_second:,.0f}"
        if privacy is not None:
            shown["epsilon"] = f"{entry['epsilon']:.3g}"
        bar.set_postfix(shown)
        if privacy is not None:
            result.best_epoch = epoch
            result.optimizer_state = base_optimizer.state_dict()
            continue
        if val_loss < best_loss - 1e-6:
            best_loss, result.best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in raw.state_dict().items()}
            # The moments that go with the kept weights, so a resume continues from them.
            result.optimizer_state = copy.deepcopy(base_optimizer.state_dict())
        elif epoch - result.best_epoch >= patience:
            break
    bar.close()
    if privacy is not None and hasattr(model, "_close"):
        model._close()  # remove Opacus' hooks from the module we save and score
    if best_state is not None:
        raw.load_state_dict(best_state)
    raw.to("cpu").eval()
    return result


def _restore(optimizer: Any, state: dict, learning_rate: float, weight_decay: float) -> None:
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError) as exc:
        raise ConfigError(
            f"the saved optimizer state does not fit this model's trainable parameters ({exc}); "
            "resume with the same --train-layers/--freeze-embeddings as the first run"
        ) from None
    for group in optimizer.param_groups:
        group["lr"], group["weight_decay"] = learning_rate, weight_decay


def _training_loss(
    loss_of, *, regression: bool, weighted: bool, fairness_penalty: float, fairness_constraint: str
):
    """``loss(outputs, targets, *row_extras)``: ``loss_of``, or its weighted and penalised form.

    ``row_extras`` are the batch's sample weights (when ``weighted``) then its group codes
    (when ``fairness_penalty`` > 0), in that order.
    """
    if not weighted and fairness_penalty == 0:
        return loss_of
    import torch

    from raikit.models.fair_training import fairness_penalty as penalty_of

    def loss(outputs, targets, *row_extras):
        extras = list(row_extras)
        if weighted:
            weight = extras.pop(0)
            if regression:
                losses = (outputs.squeeze(-1) - targets) ** 2
            else:
                losses = torch.nn.functional.cross_entropy(outputs, targets, reduction="none")
            value = (losses * weight).sum() / weight.sum().clamp_min(1e-12)
        else:
            value = loss_of(outputs, targets)
        if fairness_penalty > 0:
            groups = extras.pop(0)
            value = value + fairness_penalty * penalty_of(
                outputs, targets, groups, fairness_constraint
            )
        return value

    return loss


@dataclass
class _Pass:
    """One epoch over a loader's ``(*inputs, targets, *row_extras)`` batches, and its sums:
    training loss and correct predictions (running, over the batches as trained), rows, and
    for a private run each step's per-sample gradient norms."""

    model: Any
    optimizer: Any
    loss: Any
    device: str
    n_inputs: int
    regression: bool
    privacy: Any = None
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    norms: list = field(default_factory=list)

    def run(self, loader) -> None:
        n_inputs = self.n_inputs
        for batch in loader:
            batch = [t.to(self.device) for t in batch]
            inputs, targets, extras = batch[:n_inputs], batch[n_inputs], batch[n_inputs + 1 :]
            self.optimizer.zero_grad(set_to_none=True)
            outputs = self.model(*inputs)
            # An empty Poisson batch still takes a (noise-only) step, which the accountant
            # counts: skipping it would make the reported epsilon wrong.
            empty = len(targets) == 0
            value = outputs.sum() * 0.0 if empty else self.loss(outputs, targets, *extras)
            value.backward()
            self.optimizer.step()
            if self.privacy is not None:
                self.norms.append(self.privacy.last_step_norms())  # on its device: no sync
            self.loss_sum += value.item() * len(targets)
            self.seen += len(targets)
            if not self.regression:
                self.correct += int((outputs.detach().argmax(1) == targets).sum())


#: Quantiles of the per-sample gradient norms each private epoch records (``grad_norm_p50``).
NORM_QUANTILES = (10, 50, 90)


def clipping_summary(norms: list, max_grad_norm: float, dist: DistributedContext) -> dict:
    """Share of an epoch's samples whose gradient norm exceeded ``max_grad_norm`` (and was
    clipped), and quantiles of the norms; over every rank's samples, ``None`` with no sample.
    """
    import numpy as np
    import torch

    values = torch.cat(norms).double().cpu().numpy() if norms else np.zeros(0)
    if dist.active:
        import torch.distributed

        gathered: list = [None] * dist.world_size
        torch.distributed.all_gather_object(gathered, values)
        values = np.concatenate(gathered)
    summary: dict = {"clipped_fraction": None} | {f"grad_norm_p{q}": None for q in NORM_QUANTILES}
    if len(values):
        summary["clipped_fraction"] = round(float((values > max_grad_norm).mean()), 6)
        for q in NORM_QUANTILES:
            summary[f"grad_norm_p{q}"] = round(float(np.quantile(values, q / 100)), 6)
    return summary
