"""Under DPDDP the fast engine's step equals one process's DP-SGD step on the whole batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.func import functional_call, grad, vmap

sys.path.insert(0, str(Path(__file__).parent))
from ddp_clip_worker import MAX_GRAD_NORM, NOISE_SEED, ROWS, model_and_batch  # noqa: E402


def clipped_sum() -> dict[str, torch.Tensor]:
    """``sum_i clip(g_i)`` from per-example gradients computed by ``torch.func``."""
    model, inputs, targets = model_and_batch()
    params = {name: p.detach() for name, p in model.named_parameters()}

    def loss_of_one(params, x, y):
        return (functional_call(model, params, (x[None],)) - y[None]).pow(2).sum()

    per_example = vmap(grad(loss_of_one), in_dims=(None, 0, 0))(params, inputs, targets)
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in per_example.values()]).norm(dim=0)
    factors = (MAX_GRAD_NORM / (norms + 1e-6)).clamp(max=1.0)
    assert 0 < int((factors < 1).sum()) < ROWS  # some examples clipped, some not
    return {name: torch.einsum("i,i...->...", factors, g) for name, g in per_example.items()}


@pytest.mark.slow
def test_two_processes_give_the_whole_batch_clipped_sum_and_one_noise(tmp_path):
    out = tmp_path / "grads.json"
    worker = Path(__file__).with_name("ddp_clip_worker.py")
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    done = subprocess.run([*launch, str(worker), str(out)], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    grads = json.loads(out.read_text())
    expected = clipped_sum()
    model, _, _ = model_and_batch()
    torch.manual_seed(NOISE_SEED)  # rank 0's draw, in parameter order; rank 1 adds none
    noise = {n: torch.empty_like(p).normal_(0, MAX_GRAD_NORM) for n, p in model.named_parameters()}
    for name, summed in expected.items():
        noiseless = torch.tensor(grads["noiseless"][name])
        torch.testing.assert_close(noiseless, summed / ROWS, rtol=1e-5, atol=1e-7)
        noisy = torch.tensor(grads["noisy"][name])
        torch.testing.assert_close(noisy, (summed + noise[name]) / ROWS, rtol=1e-5, atol=1e-7)
