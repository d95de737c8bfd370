"""DP-SGD cost in raikit's own training path: DP on vs off, same model, data and batch size.

Each run is one call of ``raikit.models.train.train`` (what ``rai train`` calls): the table's
inputs fitted, a fresh model, the epoch loop (Opacus' ``PrivacyEngine`` with Poisson sampling,
per-example clipping and noise when private), the per-epoch validation,
the accountant, the checkpoint. Two figures come from each run:

* **training steps**: samples/s inside the loop's training passes only
  (``raikit.models.loop._Pass.run``, wrapped here with a timer; nothing in raikit changes),
  so data preparation, validation and saving are left out; steps/s is samples/s divided by
  the (expected) batch size;
* **whole run**: the wall time of the ``train`` call, what a user waits for.

Runs are interleaved (off, on, off, on, ...) after one warm-up pair; the tables give medians
with the min-max spread, and the DP/non-DP ratio is the median of the per-pair ratios.
DP: noise multiplier 1.0, clipping norm 1.0, PRV accountant, ``max_physical_batch_size``
unset; every other option is ``rai train``'s default (AdamW, batch 128).

    python benchmarks/dp_training.py --quick --threads 1     # minutes on a shared CPU
    python benchmarks/dp_training.py                         # README sizes
    python benchmarks/dp_training.py --device cuda           # on a GPU
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from _timing import interleave, markdown_table, median, paired_ratios, preamble, summary


@dataclass(frozen=True)
class Case:
    """One architecture on one built-in dataset: rows used (full and ``--quick``), epochs."""

    arch: str
    data: str
    rows: int | None
    quick_rows: int | None
    epochs: int
    quick_data: str | None = None


CASES = (
    Case("mlp", "adult", None, None, 2, quick_data="arrests"),
    Case("cnn", "mnist-5k", None, 600, 2),
    Case("rnn", "tweets-sentiment", 8000, 2000, 1),
    Case("encoder", "bbc-news", None, 1000, 1),
)


def _table(name: str, rows: int | None):
    from raikit.models.data import LoadedTable, frame_sha256, load_table

    table = load_table(name)
    if rows is None or rows >= len(table.frame):
        return table
    frame = table.frame.sample(n=rows, random_state=0).reset_index(drop=True)
    return LoadedTable(frame, f"{table.source}[:{rows}]", frame_sha256(frame), table.spec)


class _PassTimer:
    """Wraps the loop's ``_Pass.run``: seconds and samples of the training passes of a run."""

    def __init__(self):
        from raikit.models.loop import _Pass

        self.pass_class, self.original = _Pass, _Pass.run
        self.seconds, self.samples = 0.0, 0

    def __enter__(self):
        timer, original = self, self.original

        def timed(one_pass, loader) -> None:
            start, seen = time.perf_counter(), one_pass.seen
            original(one_pass, loader)
            if one_pass.device == "cuda":
                import torch

                torch.cuda.synchronize()
            timer.seconds += time.perf_counter() - start
            timer.samples += one_pass.seen - seen

        self.pass_class.run = timed
        return self

    def __exit__(self, *exc):
        self.pass_class.run = self.original


def _run(table, spec, workdir: Path) -> dict:
    """One ``train`` call: wall seconds, seconds and samples in the training passes, peak MiB."""
    import torch

    from raikit.models.train import train

    if spec.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with _PassTimer() as passes, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        train(table, spec, workdir, force=True, progress=False)
        wall = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if spec.device == "cuda" else None
    return {"wall": wall, "pass_s": passes.seconds, "samples": passes.samples, "peak": peak}


def measure(case: Case, *, quick: bool, device: str, repeats: int) -> list[object]:
    """One table row: interleaved DP-off/DP-on runs of ``case``."""
    from raikit.models.privacy import PrivacySpec
    from raikit.models.train import TrainSpec

    data = (case.quick_data or case.data) if quick else case.data
    table = _table(data, case.quick_rows if quick else case.rows)
    label = table.spec.label
    common = {"label": label, "arch": case.arch, "epochs": case.epochs, "device": device}
    common["patience"] = case.epochs  # the same number of epochs on both sides
    private = PrivacySpec(noise_multiplier=1.0, max_grad_norm=1.0)
    specs = {
        "off": TrainSpec(**common),
        "on": TrainSpec(**common, privacy=private),
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sides = {n: (lambda s=s, n=n: _run(table, s, workdir / n)) for n, s in specs.items()}
        runs = interleave(sides, repeats=repeats)
    off, on = runs["off"].values, runs["on"].values
    rate = {k: [v["samples"] / v["pass_s"] for v in runs[k].values] for k in runs}
    steps = {k: [r / specs[k].batch_size for r in rate[k]] for k in rate}
    wall = {k: [v["wall"] for v in runs[k].values] for k in runs}
    row = [
        case.arch,
        f"{data} ({len(table.frame):,} rows)",
        f"{specs['off'].batch_size} x {case.epochs} ep.",
        summary(steps["off"], "{:.1f}"),
        summary(steps["on"], "{:.1f}"),
        summary(paired_ratios(rate["on"], rate["off"]), "{:.2f}", "x"),
        summary(wall["off"], "{:.1f}", " s"),
        summary(wall["on"], "{:.1f}", " s"),
        summary(paired_ratios(wall["off"], wall["on"]), "{:.2f}", "x"),
    ]
    if device == "cuda":
        row.append(f"{median([v['peak'] for v in on]) / median([v['peak'] for v in off]):.1f}x")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="smaller data: minutes on 2 cores")
    parser.add_argument("--repeats", type=int, default=3, help="measured pairs per model")
    parser.add_argument("--only", nargs="*", choices=[c.arch for c in CASES], default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    import torch

    if args.threads is not None:  # on a shared machine, 1 keeps torch's threads from spinning
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU is available")
    header = [
        "arch",
        "data",
        "batch x epochs",
        "steps/s, no DP",
        "steps/s, DP",
        "DP/no-DP steps/s",
        "run, no DP",
        "run, DP",
        "DP/no-DP run speed",
    ]
    if args.device == "cuda":
        header.append("DP/no-DP peak memory")
    rows = []
    for case in CASES:
        if args.only and case.arch not in args.only:
            continue
        rows.append(measure(case, quick=args.quick, device=args.device, repeats=args.repeats))
        print(f"{case.arch} done", file=sys.stderr, flush=True)
    print(preamble(f"device {args.device}"))
    print(f"Each cell: median (min-max) of {args.repeats} interleaved pairs after a warm-up pair.")
    print()
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
