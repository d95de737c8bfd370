"""Before/after figures of every mitigation method on adult (sex) and COMPAS (race).

Trains the base MLP as ``rai train`` would (10 epochs, early stopping), then fits each method
for demographic parity and measures accuracy and the demographic parity difference (with a 95%
bootstrap interval) on the held-out test split with raikit's audit code. COMPAS is restricted to
African-American and Caucasian defendants, the comparison of ProPublica's analysis (the other
groups have 11-509 rows, too few for a stable disparity).

Run: ``.venv/bin/python benchmarks/mitigation_tradeoff.py [--epochs 5] [--out DIR]``
(about 10 minutes on 2 idle CPU cores; not part of the test run).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from raikit.audit.mitigation import MitigationConfig, list_methods, mitigate
from raikit.models.data import LoadedTable, frame_sha256, load_table
from raikit.models.train import TrainSpec, train

CASES = (("adult", "sex"), ("compas", "race"))


def table_for(name: str) -> LoadedTable:
    table = load_table(name)
    if name != "compas":
        return table
    frame = table.frame[table.frame["race"].isin(["African-American", "Caucasian"])]
    frame = frame.reset_index(drop=True)
    return LoadedTable(
        frame, "compas (African-American, Caucasian)", frame_sha256(frame), table.spec
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs of retrained models")
    parser.add_argument("--batch-size", type=int, default=512, help="their mini-batch size")
    parser.add_argument("--max-iter", type=int, default=10, help="ExponentiatedGradient iterations")
    parser.add_argument("--out", type=Path, default=None, help="keep the models here")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="raikit-mitigation-"))
    for name, column in CASES:
        table = table_for(name)
        spec = TrainSpec(label=table.spec.label, sensitive=(column,), epochs=10, seed=0)
        started = time.perf_counter()
        if not (root / name / "base" / "config.json").is_file():  # reuse a finished base model
            train(table, spec, root / name / "base", force=True, progress=False)
        print(
            f"\n{name} ({len(table.frame):,} rows), sensitive '{column}', "
            f"base trained in {time.perf_counter() - started:.0f} s"
        )
        print(f"{'method':40s} {'accuracy':>8s} {'DPD':>6s} {'95% CI':>15s} {'EOD':>6s} {'s':>5s}")
        baseline_shown = False
        for method in list_methods():
            config = MitigationConfig(
                method=method.name,
                constraint="demographic_parity",
                sensitive=(column,),
                epochs=args.epochs,
                batch_size=args.batch_size,
                max_iter=args.max_iter,
                n_bootstrap=500,
            )
            result = mitigate(
                table, root / name / "base", config, root / name / method.name, force=True
            )
            for point in result.points[0 if not baseline_shown else 1 :]:
                dpd = point.disparities["demographic_parity_difference"]
                eod = point.disparities["equalized_odds_difference"]
                print(
                    f"{point.name:40s} {point.accuracy.value:8.3f} {dpd.value:6.3f} "
                    f"[{dpd.lower:.3f}, {dpd.upper:.3f}] {eod.value:6.3f} {point.seconds:5.0f}",
                    flush=True,
                )
            baseline_shown = True


if __name__ == "__main__":
    main()
