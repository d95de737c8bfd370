"""Integrated Gradients throughput: raikit's explanations vs a plain captum default call.

For each model (the tabular MLP, the RNN text classifier, MiniLM fine-tuned as a sequence
classifier), the same rows and the same target (the predicted class) are attributed twice:

* raikit: ``raikit.audit.explain.explain_rows`` (IG from 16 steps, doubled only for rows whose
  convergence delta exceeds 5% of ``|f(x) - f(baseline)|``; ``internal_batch_size=512``),
  timed end to end from the raw frame (encoding, predictions and word merging included);
* plain captum: ``IntegratedGradients(module).attribute(inputs, target=...)`` (text:
  ``LayerIntegratedGradients`` on the embedding layer) with default settings (50 steps, no
  internal batching, zero baseline), on the already encoded inputs, timed around that call.

Reported: samples/s of each, the speed ratio raikit / captum, and the mean relative
convergence delta of each. The three calls (raikit, raikit at 50 steps, captum) run
interleaved after a warm-up; each figure is the median (min-max) of ``--repeats`` rounds and
a ratio is the median of the per-round ratios; the delta is that of the last round (a
speed-up that loses completeness would be no speed-up). CPU only unless a CUDA device is
present and ``--device cuda`` is given (captum side only: raikit's explanations run where the
checkpoint loads, on CPU).

    python benchmarks/explain_throughput.py                       # default sizes
    python benchmarks/explain_throughput.py --mlp-rows 500 --rnn-rows 100 --minilm-rows 4
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _timing import interleave, paired_ratios, preamble, summary


def _train(name: str, rows: int, spec_kwargs: dict, out: Path):
    from raikit.models.data import LoadedTable, load_table
    from raikit.models.train import TrainSpec, train

    table = load_table(name)
    frame = table.frame.sample(n=min(rows, len(table.frame)), random_state=0)
    frame = frame.reset_index(drop=True)
    small = LoadedTable(frame, table.source, table.sha256, table.spec)
    train(small, TrainSpec(label=table.spec.label, **spec_kwargs), out, progress=False)
    return frame


def _plain(model, frame, targets, device: str) -> tuple[float, float]:
    """Seconds of one default captum call, and its mean relative convergence delta."""
    import numpy as np
    import torch
    from captum.attr import IntegratedGradients, LayerIntegratedGradients

    module = model.module.to(device)
    inputs = tuple(t.to(device) for t in model.encode(frame))
    target = torch.as_tensor(targets, device=device)
    if model.input_kind == "tabular":
        explainer = IntegratedGradients(module)
        extra = None
    else:
        explainer = LayerIntegratedGradients(module, model.embedding_layer())
        extra = tuple(inputs[1:]) or None
    start = time.perf_counter()
    attributions = explainer.attribute(inputs[0], target=target, additional_forward_args=extra)
    seconds = time.perf_counter() - start
    # Completeness of the default call, measured outside the timing.
    with torch.no_grad():
        baseline = torch.zeros_like(inputs[0])
        logits = module(*inputs).gather(1, target[:, None])[:, 0]
        base_logits = module(baseline, *inputs[1:]).gather(1, target[:, None])[:, 0]
    total = attributions.reshape(len(frame), -1).sum(dim=1)
    gap = (logits - base_logits).cpu().numpy()
    delta = np.abs(total.detach().cpu().numpy() - gap)
    module.to("cpu")
    return seconds, float(delta.mean() / max(np.abs(gap).mean(), 1e-12))


def _ours(predictor, frame, fixed_steps: int | None = None) -> tuple[float, float, int]:
    import numpy as np

    from raikit.audit.explain import ExplainConfig, explain_rows

    config = ExplainConfig()
    if fixed_steps is not None:  # same steps as captum's default: batching effect alone
        config = ExplainConfig(n_steps=fixed_steps, max_steps=fixed_steps)
    start = time.perf_counter()
    result = explain_rows(predictor, frame, config=config)
    seconds = time.perf_counter() - start
    deltas = np.abs([r.convergence_delta for r in result.rows])
    sums = []
    for r in result.rows:
        scores = [f.score for f in r.features] or [t.score for t in r.tokens]
        sums.append(sum(scores) - r.convergence_delta)  # = f(x) - f(baseline)
    return seconds, float(deltas.mean() / max(np.abs(sums).mean(), 1e-12)), result.n_steps_max_used


def run(args) -> list[dict]:
    import numpy as np
    import torch

    from raikit.audit.predictor import load_predictor
    from raikit.audit.torch_model import torch_model

    torch.set_num_threads(args.threads)
    cases = [
        ("mlp", "arrests", args.mlp_rows, {"epochs": 3}),
        ("rnn", "identity-text", args.rnn_rows, {"arch": "rnn", "epochs": 2, "max_length": 32}),
        (
            "minilm",
            "identity-text",
            args.minilm_rows,
            {
                "arch": "transformer",
                "epochs": 1,
                "max_length": args.minilm_length,
                "train_layers": 1,
                "batch_size": 8,
            },
        ),
    ]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, dataset, rows, spec in cases:
            if rows <= 0:
                continue
            path = Path(tmp) / name
            frame = _train(dataset, max(rows, 24), spec, path)
            frame = frame.iloc[:rows]
            predictor = load_predictor(path)
            model = torch_model(predictor)
            targets = np.asarray(predictor.predict_proba(frame)).argmax(axis=1)
            _ours(predictor, frame.iloc[:2])  # warm-up: imports, tokenizer load
            sides = {
                "raikit": lambda p=predictor, f=frame: _ours(p, f),
                "50 steps": lambda p=predictor, f=frame: _ours(p, f, fixed_steps=50),
                "captum": lambda m=model, f=frame, t=targets: _plain(m, f, t, args.device),
            }
            runs = interleave(sides, repeats=args.repeats)
            # Each side's own seconds (the captum call alone, raikit end to end).
            seconds = {k: [v[0] for v in run.values] for k, run in runs.items()}
            rate = {k: [len(frame) / s for s in v] for k, v in seconds.items()}
            results.append(
                {
                    "model": name,
                    "rows": len(frame),
                    "raikit_samples_per_s": summary(rate["raikit"], "{:.1f}"),
                    "captum_default_samples_per_s": summary(rate["captum"], "{:.1f}"),
                    "ratio": ratio(seconds["captum"], seconds["raikit"]),
                    "raikit_50_steps_samples_per_s": summary(rate["50 steps"], "{:.1f}"),
                    "ratio_50_steps": ratio(seconds["captum"], seconds["50 steps"]),
                    "raikit_steps_max": runs["raikit"].values[-1][2],
                    "raikit_relative_delta": runs["raikit"].values[-1][1],
                    "captum_relative_delta": runs["captum"].values[-1][1],
                }
            )
    return results


def ratio(baseline: list[float], candidate: list[float]) -> str:
    return summary(paired_ratios(baseline, candidate), "{:.2f}", "x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlp-rows", type=int, default=2000)
    parser.add_argument("--rnn-rows", type=int, default=400)
    parser.add_argument("--minilm-rows", type=int, default=8)
    parser.add_argument("--minilm-length", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = run(args)
    print(preamble(f"captum side on {args.device}"))
    print(f"Each cell: median (min-max) of {args.repeats} interleaved rounds after a warm-up.\n")
    print(
        "| model | rows | raikit samples/s | captum default samples/s | ratio | "
        "raikit at 50 steps | ratio at 50 steps | raikit max steps | raikit rel. delta | "
        "captum rel. delta |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r['model']} | {r['rows']} | {r['raikit_samples_per_s']} | "
            f"{r['captum_default_samples_per_s']} | {r['ratio']} | "
            f"{r['raikit_50_steps_samples_per_s']} | {r['ratio_50_steps']} | "
            f"{r['raikit_steps_max']} | {r['raikit_relative_delta']:.4f} | "
            f"{r['captum_relative_delta']:.4f} |"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
