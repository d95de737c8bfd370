"""Membership-inference figures: attack AUC, TPR at 1% FPR and the empirical ε lower bound.

Four models: (a) an intentionally overfit MLP on a small planted table (a row-identifier
column it can memorise, 30% label noise), (b) a normal MLP on ``arrests``, (c) DP MLPs on
``arrests`` at ε = 1 and ε = 8. Every model is attacked with the loss, confidence and LiRA
(online, offline) attacks, K shadow models each.

    python benchmarks/membership_inference.py --shadows 8 --out /tmp/mia

(b) and (c) through the command line:

    rai train --data arrests --label released --sensitive colour --sensitive sex --out mlp
    rai attack --model mlp --data arrests --out mlp-attack --shadows 8 --sensitive colour
    rai train --data arrests --label released --sensitive colour --sensitive sex \
        --dp --target-epsilon 1 --epochs 15 --batch-size 128 --lr 3e-3 --out dp1
    rai attack --model dp1 --data arrests --out dp1-attack --shadows 8 --sensitive colour
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def planted_overfit_table(n_rows: int = 300, seed: int = 0):
    """A small table an MLP memorises: one weak feature, 30% label noise, a unique row id."""
    import numpy as np
    import pandas as pd

    from raikit.models.data import LoadedTable, frame_sha256

    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_rows)
    y = (x > 0) ^ (rng.random(n_rows) < 0.3)
    frame = pd.DataFrame(
        {
            "x": x,
            "record_id": [f"r{i:05d}" for i in range(n_rows)],
            "group": np.where(rng.random(n_rows) < 0.5, "a", "b"),
            "y": np.where(y, "yes", "no"),
        }
    )
    return LoadedTable(frame=frame, source="planted-overfit", sha256=frame_sha256(frame))


def models(out: Path):
    """(name, table, TrainSpec, sensitive) of each model of the table."""
    from raikit.models.data import load_table
    from raikit.models.privacy import PrivacySpec
    from raikit.models.train import TrainSpec

    planted = planted_overfit_table()
    arrests = load_table("arrests")
    overfit = TrainSpec(
        label="y",
        sensitive=("group",),
        hidden=(64,),
        dropout=0.0,
        epochs=40,
        patience=40,
        batch_size=32,
        learning_rate=0.01,
        weight_decay=0.0,
        max_categories=300,
        validation_fraction=0.25,
        test_fraction=0.25,
    )
    normal = TrainSpec(label="released", sensitive=("colour", "sex"))
    dp = {"epochs": 15, "batch_size": 128, "learning_rate": 3e-3}
    yield "overfit MLP (planted, 300 rows)", planted, overfit, ("group",)
    yield "MLP on arrests", arrests, normal, ("colour", "sex")
    for epsilon in (1.0, 8.0):
        spec = TrainSpec(
            label="released",
            sensitive=("colour", "sex"),
            privacy=PrivacySpec(target_epsilon=epsilon),
            **dp,
        )
        yield f"DP MLP on arrests, ε = {epsilon:g}", arrests, spec, ("colour", "sex")


def main() -> None:
    from raikit.audit.predictor import load_predictor
    from raikit.audit.privacy import MembershipConfig, assess_membership_inference
    from raikit.models.train import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shadows", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("membership-figures"))
    args = parser.parse_args()
    rows = []
    for index, (name, table, spec, sensitive) in enumerate(models(args.out)):
        model_dir = args.out / f"model-{index}"
        start = time.perf_counter()
        train(table, spec, model_dir, force=True, progress=False)
        result = assess_membership_inference(
            load_predictor(model_dir),
            table,
            sensitive,
            MembershipConfig(shadows=args.shadows),
            progress=True,
        )
        strongest = next(a for a in result.attacks if a.name == result.strongest_attack)
        row = {
            "model": name,
            "claimed_epsilon": result.dp.epsilon,
            "n_each": result.n_members,
            "attacks": {
                a.name: {
                    "auc": a.auc.value,
                    "tpr_at_1pct_fpr": a.rates[0].tpr.value,
                    "tpr_at_01pct_fpr": a.rates[1].tpr.value,
                    "epsilon_lower_bound": a.epsilon_lower_bound,
                }
                for a in result.attacks
            },
            "strongest": strongest.name,
            "auc": result.auc,
            "tpr_at_1pct_fpr": strongest.rates[0].tpr.value,
            "epsilon_lower_bound": result.epsilon_lower_bound,
            "verdict": result.verdict,
            "seconds": round(time.perf_counter() - start, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print("| model | claimed ε | strongest attack | AUC | TPR@1%FPR | ε_lb | verdict |")
    print("| --- | ---: | --- | ---: | ---: | ---: | --- |")
    for r in rows:
        claimed = "none" if r["claimed_epsilon"] is None else f"{r['claimed_epsilon']:.2f}"
        print(
            f"| {r['model']} | {claimed} | {r['strongest']} | {r['auc']:.3f} | "
            f"{r['tpr_at_1pct_fpr']:.3f} | {r['epsilon_lower_bound']:.2f} | {r['verdict']} |"
        )


if __name__ == "__main__":
    main()
