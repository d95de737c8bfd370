"""One DP-SGD step of raikit's engine under Opacus' DPDDP; rank 0 writes the gradients.

Launched by ``tests/models/test_fast_dp_distributed.py`` with ``torchrun --nproc_per_node 2``:
each process takes its half of a fixed batch, once without noise and once with noise seeded
identically on both ranks.
"""

import json
import sys

import torch
from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP
from torch import nn

from raikit.models.fast_dp import BookkeepingHooks, BookkeepingModule, BookkeepingOptimizer

ROWS, MAX_GRAD_NORM, NOISE_SEED = 16, 9.0, 1


def model_and_batch() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The model and the whole batch (the test rebuilds them to compute the expectation)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 3))
    return model, torch.randn(ROWS, 6), torch.randn(ROWS, 3)


def one_step(noise_multiplier: float) -> dict[str, list]:
    rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
    model, inputs, targets = model_and_batch()
    shard = slice(rank * ROWS // world_size, (rank + 1) * ROWS // world_size)
    wrapped = DPDDP(model)
    hooks = BookkeepingHooks(wrapped)
    optimizer = BookkeepingOptimizer(
        torch.optim.SGD(model.parameters(), lr=1.0),
        hooks=hooks,
        rank=rank,
        world_size=world_size,
        noise_multiplier=noise_multiplier,
        max_grad_norm=MAX_GRAD_NORM,
        expected_batch_size=ROWS / world_size,
    )
    outputs = BookkeepingModule(wrapped, hooks)(inputs[shard])
    (outputs - targets[shard]).pow(2).sum(1).mean().backward()
    torch.manual_seed(NOISE_SEED)
    optimizer.step()
    return {name: p.grad.tolist() for name, p in model.named_parameters()}


if __name__ == "__main__":
    torch.distributed.init_process_group("gloo")
    grads = {"noiseless": one_step(0.0), "noisy": one_step(1.0)}
    if torch.distributed.get_rank() == 0:
        with open(sys.argv[1], "w") as out:
            json.dump(grads, out)
    torch.distributed.destroy_process_group()
