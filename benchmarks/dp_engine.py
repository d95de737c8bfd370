"""Samples/s of one DP-SGD step per clipping engine, for raikit's MLP and CNN, on CPU.

Engines: the non-private step, Opacus hooks, Opacus ghost clipping and raikit's book-keeping
engine, on the same fixed batch; repetitions are interleaved (engine order rotates each round)
and the median is reported.

Usage: python benchmarks/dp_engine.py [--rounds 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torch import nn

ENGINES = ("non-private", "opacus-hooks", "opacus-ghost", "raikit")


def _workloads() -> dict:
    from raikit.models.architectures import build_mlp
    from raikit.models.cnn import build_cnn

    # name -> (steps per timing, model, inputs, targets)
    return {
        "mlp (64-32, 100 features), batch 256": (
            40,
            lambda: build_mlp(100, 2),
            torch.randn(256, 100),
            torch.randint(0, 2, (256,)),
        ),
        "cnn (28x28), batch 64": (
            2,
            lambda: build_cnn(n_classes=10),
            torch.randn(64, 1, 28, 28),
            torch.randint(0, 10, (64,)),
        ),
        "minilm-l6 (random weights), 8 x 64 tokens": (
            1,
            _minilm,
            (torch.randint(1, 30_000, (8, 64)), torch.ones(8, 64, dtype=torch.long)),
            torch.randint(0, 2, (8,)),
        ),
    }


def _minilm() -> nn.Module:
    """MiniLM-L6's architecture (from its config; weights do not change the timing)."""
    from transformers import AutoConfig

    from raikit.models.transformer import _config_dict, build_transformer, default_pretrained_dir

    config = _config_dict(AutoConfig.from_pretrained(default_pretrained_dir()))
    return build_transformer(config, n_classes=2)


def _step_function(engine: str, model: nn.Module, x, y: torch.Tensor):
    """A closure running one optimiser step of ``engine`` on (x, y); x: a tensor or a tuple."""
    from opacus import GradSampleModule, PrivacyEngine
    from opacus.optimizers import DPOptimizer
    from torch.utils.data import DataLoader, TensorDataset

    from raikit.models.fast_dp import BookkeepingHooks, BookkeepingModule, BookkeepingOptimizer

    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = x if isinstance(x, tuple) else (x,)
    dp = dict(noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=len(y))
    if engine == "opacus-hooks":
        model = GradSampleModule(model)
        optimizer = DPOptimizer(optimizer, **dp)
    elif engine == "opacus-ghost":
        loader = DataLoader(TensorDataset(*x, y), batch_size=len(y))
        model, optimizer, criterion, _ = PrivacyEngine().make_private(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            criterion=criterion,
            noise_multiplier=1.0,
            max_grad_norm=1.0,
            poisson_sampling=False,
            grad_sample_mode="ghost",
        )
    elif engine == "raikit":
        hooks = BookkeepingHooks(model)
        optimizer = BookkeepingOptimizer(optimizer, hooks=hooks, **dp)
        model = BookkeepingModule(model, hooks)

    def step() -> None:
        optimizer.zero_grad()
        criterion(model(*x), y).backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.rounds} rounds")
    for name, (n_steps, build, x, y) in _workloads().items():
        torch.manual_seed(0)
        steps = {engine: _step_function(engine, build().train(), x, y) for engine in ENGINES}
        for step in steps.values():  # warm up
            step()
        rates: dict[str, list[float]] = {engine: [] for engine in ENGINES}
        for round_ in range(args.rounds):
            order = ENGINES[round_ % len(ENGINES) :] + ENGINES[: round_ % len(ENGINES)]
            for engine in order:
                start = time.perf_counter()
                for _ in range(n_steps):
                    steps[engine]()
                rates[engine].append(n_steps * len(y) / (time.perf_counter() - start))
        base = statistics.median(rates["non-private"])
        print(f"\n{name}")
        for engine in ENGINES:
            median = statistics.median(rates[engine])
            print(f"  {engine:13s} {median:9.0f} samples/s  {median / base:5.2f}x")


if __name__ == "__main__":
    main()
