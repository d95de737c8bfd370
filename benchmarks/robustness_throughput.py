"""Robustness throughput: raikit's PGD against IBM ART's, and the 100,000-row counterfactual audit.

1. PGD (L-infinity, 10 steps, step 2.5 x epsilon / 10, no random start, batch 256) on a raikit
   MLP (Arrests, encoded inputs) and a raikit CNN (8x8 digits, pixels clipped to [0, 1]):
   samples per second of ``raikit.audit.robustness._adversarial.perturb`` against the same attack
   through ART's ``ProjectedGradientDescent`` on the same module, inputs and settings, and the
   robust accuracy each reaches (they should agree). The two run interleaved after a warm-up;
   figures are medians (min-max) of ``--repeats`` rounds, the speed-up the median per-round
   ratio.
2. ``assess_robustness`` counterfactual audit (colour and sex, each alone and with its
   proxies when any are found or given with ``--proxy``, 1,000 bootstrap replicates) of
   100,000 tabular rows, torch on 2 threads.

ART is an optional benchmark dependency (``pip install 'raikit[bench]'``); without it the
script says so and reports raikit's figures alone.

Usage::

    python benchmarks/robustness_throughput.py                 # default sizes
    python benchmarks/robustness_throughput.py --rows 512 --counterfactual-rows 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import interleave, paired_ratios, preamble, summary


def _train_models(root: Path):
    from raikit.audit.predictor import load_predictor
    from raikit.models.data import load_table
    from raikit.models.train import TrainSpec, train

    arrests = load_table("arrests")
    train(
        arrests,
        TrainSpec(label="released", sensitive=("colour", "sex"), epochs=5),
        root / "mlp",
        progress=False,
    )
    digits = load_table("digits")
    train(digits, TrainSpec(label="digit", arch="cnn", epochs=3), root / "cnn", progress=False)
    return arrests, digits, load_predictor(root / "mlp"), load_predictor(root / "cnn")


def _raikit_pgd(module, x, y, epsilon, steps, batch_size, clip):
    import torch

    from raikit.audit.robustness._adversarial import perturb

    out = []
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], torch.as_tensor(y[start : start + batch_size])
        out.append(
            perturb(module, xb, yb, attack="pgd_linf", epsilon=epsilon, steps=steps, clip=clip)
        )
    return torch.cat(out)


def _art_pgd(module, x, y, n_classes, epsilon, steps, batch_size, clip):
    import torch
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    classifier = PyTorchClassifier(
        model=module,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=tuple(x.shape[1:]),
        nb_classes=n_classes,
        clip_values=clip,
        device_type="cpu",
    )
    attack = ProjectedGradientDescent(
        classifier,
        norm=np.inf,
        eps=epsilon,
        eps_step=2.5 * epsilon / steps,
        max_iter=steps,
        targeted=False,
        num_random_init=0,
        batch_size=batch_size,
        verbose=False,
    )
    return torch.from_numpy(attack.generate(x.numpy(), y=np.eye(n_classes)[y]))


def _accuracy(module, x, y) -> float:
    import torch

    with torch.no_grad():
        return float((module(x).argmax(dim=1).numpy() == y).mean())


def bench_pgd(name, predictor, frame, label, rows, epsilon, steps, batch_size, repeats):
    from raikit.audit.torch_model import torch_model

    model = torch_model(predictor)
    sample = frame.sample(n=min(rows, len(frame)), random_state=0).reset_index(drop=True)
    (x,) = model.encode(sample)
    x = x.float()
    classes = {c: i for i, c in enumerate(model.classes)}
    from raikit.models.schema import label_text

    y = sample[label].map(label_text).map(classes).to_numpy(dtype=np.int64).copy()
    clip = (0.0, 1.0) if model.input_kind == "image" else None
    module = model.module.float()
    sides = {"raikit": lambda: _raikit_pgd(module, x, y, epsilon, steps, batch_size, clip)}
    try:
        import art  # noqa: F401

        n_classes = len(classes)
        sides["ART"] = lambda: _art_pgd(module, x, y, n_classes, epsilon, steps, batch_size, clip)
    except ImportError:
        pass
    runs = interleave(sides, repeats=repeats)  # raikit, ART, raikit, ... after a warm-up
    line = f"{name:4s} n={len(x):5d} eps={epsilon:<5g} clean {_accuracy(module, x, y):.3f}"
    for side, run in runs.items():
        rate = summary([len(x) / s for s in run.seconds], "{:.0f}")
        line += f" | {side} {rate} samples/s, robust {_accuracy(module, run.values[-1], y):.3f}"
    if "ART" in runs:
        speed = paired_ratios(runs["ART"].seconds, runs["raikit"].seconds)
        line += f" | raikit/ART speed {summary(speed, '{:.2f}', 'x')}"
    else:
        line += " | ART not installed: pip install 'raikit[bench]' to compare"
    print(line)


def bench_counterfactual(predictor, table, rows, n_bootstrap, proxies):
    from raikit.audit.robustness import RobustnessConfig, assess_robustness

    frame = table.frame.sample(n=rows, replace=True, random_state=0).reset_index(drop=True)
    config = RobustnessConfig(
        sensitive=("colour", "sex"),
        label="released",
        attacks=(),
        perturbations=(),
        n_bootstrap=n_bootstrap,
        proxies=tuple(proxies) or None,
    )
    start = time.perf_counter()
    result = assess_robustness(predictor, frame, config)
    elapsed = time.perf_counter() - start
    variants = ", ".join(
        f"{c.attribute}{'+' + '+'.join(p.feature for p in c.proxies) if c.proxies else ''}"
        for c in result.counterfactual
    )
    print(
        f"counterfactual audit of {rows:,} rows ({variants}; {n_bootstrap} bootstrap "
        f"replicates): {elapsed:.1f} s (target < 30 s); largest flip rate "
        f"{result.max_counterfactual_flip_rate():.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1024, help="rows attacked per model")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timings (median)")
    parser.add_argument("--counterfactual-rows", type=int, default=100_000)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument(
        "--proxy",
        action="append",
        default=[],
        help="column changed with the attribute (repeat; default: the strong proxies found)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    device = f"cpu ({args.threads} threads)"
    print(preamble(f"torch on {device}"))
    with tempfile.TemporaryDirectory() as root:
        arrests, digits, mlp, cnn = _train_models(Path(root))
        settings = (args.steps, args.batch_size, args.repeats)
        bench_pgd("mlp", mlp, arrests.frame, "released", args.rows, 0.1, *settings)
        bench_pgd("cnn", cnn, digits.frame, "digit", args.rows, 0.05, *settings)
        bench_counterfactual(mlp, arrests, args.counterfactual_rows, args.n_bootstrap, args.proxy)


if __name__ == "__main__":
    main()
