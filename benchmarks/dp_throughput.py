"""DP-SGD cost: samples/s and peak memory, non-private vs Opacus, same model and batch.

Models: the CNN (batch 256, 28x28), the LSTM text classifier (batch 64, 128 tokens;
``nn.LSTM`` non-private vs Opacus ``DPLSTM`` private) and BERT-base-sized from config (batch
32, 128 tokens, through raikit's batch-shaped-position-ids wrapper). Reference on an H100
with plain Opacus 1.6 hooks: DP/non-private CNN ~0.25, LSTM ~0.03, BERT-base ~0.41 (5.8x mem).

    python benchmarks/dp_throughput.py                  # full sizes (GPU)
    python benchmarks/dp_throughput.py --scale 0.125 --steps 3 --bert-layers 2   # CPU
"""

from __future__ import annotations

import argparse
import json
import time
import warnings


def _models(scale: float, bert_layers: int):
    from raikit.models.cnn import build_cnn
    from raikit.models.rnn import build_rnn
    from raikit.models.transformer import build_transformer

    def bert():
        from transformers import BertConfig

        config = BertConfig(num_hidden_layers=bert_layers).to_dict()
        for key in ("architectures", "id2label", "label2id", "num_labels"):
            config.pop(key, None)
        return build_transformer(config, 2)

    length = max(8, int(128 * scale)) if scale < 1 else 128
    return [
        ("cnn", lambda dp: build_cnn(10, 1, 28, 28), max(2, int(256 * scale)), ("image",)),
        (
            "lstm",
            lambda dp: build_rnn(2, vocab_size=20_000, dp=dp),
            max(2, int(64 * scale)),
            ("tokens", length),
        ),
        ("bert-base", lambda dp: bert(), max(2, int(32 * scale)), ("bert", length)),
    ]


def _batch(kind, batch, device):
    import torch

    if kind[0] == "image":
        return (torch.randn(batch, 1, 28, 28, device=device),), torch.randint(0, 10, (batch,))
    ids = torch.randint(1, 20_000, (batch, kind[1]), device=device)
    if kind[0] == "tokens":
        return (ids,), torch.randint(0, 2, (batch,))
    return (ids, torch.ones_like(ids)), torch.randint(0, 2, (batch,))


def measure(build, batch, kind, dp: bool, steps: int, device: str) -> dict:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    model = build(dp).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    inputs, targets = _batch(kind, batch, device)
    targets = targets.to(device)
    if dp:
        from opacus import PrivacyEngine

        loader = DataLoader(
            TensorDataset(*[t.cpu() for t in inputs], targets.cpu()), batch_size=batch
        )
        model, optimizer, _ = PrivacyEngine(accountant="rdp").make_private(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            noise_multiplier=1.0,
            max_grad_norm=1.0,
            poisson_sampling=False,
        )
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad()
        loss_fn(model(*inputs), targets).backward()
        optimizer.step()

    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    return {"samples_per_s": round(batch * steps / elapsed, 2), "peak_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="batch/sequence scale")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--bert-layers", type=int, default=12)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    from raikit.models.loop import resolve_device

    device = resolve_device(args.device)
    rows = []
    for name, build, batch, kind in _models(args.scale, args.bert_layers):
        if args.only and name not in args.only:
            continue
        plain = measure(build, batch, kind, False, args.steps, device)
        private = measure(build, batch, kind, True, args.steps, device)
        row = {
            "model": name,
            "batch": batch,
            "device": device,
            "non_private": plain,
            "dp": private,
            "throughput_ratio": round(private["samples_per_s"] / plain["samples_per_s"], 3),
        }
        if plain["peak_mib"]:
            row["memory_ratio"] = round(private["peak_mib"] / plain["peak_mib"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
