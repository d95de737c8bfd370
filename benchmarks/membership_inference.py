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

RMIA against LiRA with 1, 2, 4 and 8 reference models, on the same targets in one run
(``--compare``): per dataset, an MLP trained to overfit (no early stopping, no dropout or
weight decay, half of the rows held out) and 16 shadows on balanced halves, so every row has
exactly 8 shadows trained without it and 8 with it. At k reference models, every attacked and
population row is scored against the first k of its shadows trained without it (the same for
both attacks); LiRA online also gets the first k with it (2k models).

    python benchmarks/membership_inference.py --compare --out /tmp/mia-compare
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
        # The row id is there to be memorised: kept, and not pooled as a rare category.
        accept_free_text=True,
        min_frequency=1,
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


REFERENCE_MODELS = (1, 2, 4, 8)
#: (dataset, label) of the side-by-side comparison.
COMPARED = (
    ("arrests", "released"),
    ("hmda", "deny"),
    ("german-credit", "credit"),
    ("attrition", "Attrition"),
)


def first_shadows(shadows, k: int, trained: bool):
    """Per row, the first ``k`` shadows that did (``trained``) or did not train on it."""
    import numpy as np

    from raikit.audit.privacy._lira import ShadowScores

    wanted = shadows.trained_on == trained
    order = np.argsort(~wanted, axis=0, kind="stable")[:k]  # wanted shadows first, in order
    phi = np.take_along_axis(shadows.phi, order, axis=0)
    return ShadowScores(phi=phi, trained_on=np.full(phi.shape, trained))


def compare_reference_models(out: Path, seed: int = 0) -> list[dict]:
    """RMIA and LiRA at 1, 2, 4 and 8 reference models on the same targets and shadows."""
    import numpy as np

    from raikit.audit.predictor import load_predictor
    from raikit.audit.privacy import _stats as stats
    from raikit.audit.privacy._lira import (
        ShadowScores,
        lira_scores,
        logit_confidence,
        recipe_from_record,
        train_shadows,
    )
    from raikit.audit.privacy._rmia import OFFLINE_A, rmia_scores
    from raikit.audit.stats import auc_interval, roc_auc
    from raikit.models.data import load_table
    from raikit.models.schema import label_text
    from raikit.models.train import TrainSpec, train

    rows = []
    for dataset, label in COMPARED:
        table = load_table(dataset)
        spec = TrainSpec(
            label=label,
            hidden=(256, 256),
            dropout=0.0,
            weight_decay=0.0,
            epochs=60,
            patience=60,
            batch_size=64,
            learning_rate=3e-3,
            validation_fraction=0.25,
            test_fraction=0.25,
            seed=seed,
            tensorboard=False,
        )
        start = time.perf_counter()
        checkpoint = train(table, spec, out / f"target-{dataset}", force=True, progress=False)
        rng = np.random.default_rng(seed)
        members_pool = np.asarray(checkpoint.split["train"])
        held_out = np.asarray(sorted(checkpoint.split["validation"] + checkpoint.split["test"]))
        n_each = min(len(members_pool), len(held_out))
        members = np.sort(rng.choice(members_pool, n_each, replace=False))
        nonmembers = np.sort(rng.choice(held_out, n_each, replace=False))
        scored = np.union1d(np.concatenate([members, nonmembers]), held_out)
        frame = table.frame.iloc[scored]
        target_phi = logit_confidence(
            load_predictor(out / f"target-{dataset}"),
            frame,
            frame[label].map(label_text).tolist(),
        )
        shadows = train_shadows(
            table, recipe_from_record(checkpoint.record), scored, 2 * max(REFERENCE_MODELS)
        )
        attacked = np.searchsorted(scored, np.concatenate([members, nonmembers]))
        is_member = np.arange(len(attacked)) < n_each
        population = np.searchsorted(scored, held_out)
        for k in REFERENCE_MODELS:
            out_k = first_shadows(shadows, k, trained=False)
            in_k = first_shadows(shadows, k, trained=True)
            both = ShadowScores(
                phi=np.concatenate([in_k.phi, out_k.phi])[:, attacked],
                trained_on=np.concatenate([in_k.trained_on, out_k.trained_on])[:, attacked],
            )
            lira_offline = lira_scores(target_phi[attacked], out_k.columns(attacked)).offline
            scores = {
                "LiRA offline": lira_offline,
                "RMIA offline": rmia_scores(target_phi, out_k, population, OFFLINE_A)[attacked],
                "LiRA online (2k models)": lira_scores(target_phi[attacked], both).online,
            }
            for attack, score in scores.items():
                table_roc = stats.roc_table(score[is_member], score[~is_member])
                auc = roc_auc(is_member, score)
                tpr = [stats.tpr_at_fpr(table_roc, fpr)[0] / n_each for fpr in (0.01, 0.001)]
                row = {
                    "dataset": dataset,
                    "reference_models": k,
                    "attack": attack,
                    "n_each": n_each,
                    "auc": auc,
                    "auc_interval": auc_interval(auc, n_each, n_each, 0.95),
                    "tpr_at_1pct_fpr": tpr[0],
                    "tpr_at_01pct_fpr": tpr[1],
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
        print(f"{dataset}: {time.perf_counter() - start:.0f} s", flush=True)
    print("| dataset | k | attack | AUC (95%) | TPR @ 1% FPR | TPR @ 0.1% FPR |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for r in rows:
        lo, hi = r["auc_interval"]
        print(
            f"| {r['dataset']} | {r['reference_models']} | {r['attack']} | {r['auc']:.3f} "
            f"[{lo:.3f}, {hi:.3f}] | {r['tpr_at_1pct_fpr']:.3f} | "
            + (f"{r['tpr_at_01pct_fpr']:.4f} |" if r["n_each"] >= 1000 else "unresolved |")
        )
    return rows


def main() -> None:
    from raikit.audit.predictor import load_predictor
    from raikit.audit.privacy import MembershipConfig, assess_membership_inference
    from raikit.models.train import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shadows", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("membership-figures"))
    parser.add_argument(
        "--compare", action="store_true", help="RMIA against LiRA at 1, 2, 4, 8 reference models"
    )
    args = parser.parse_args()
    if args.compare:
        rows = compare_reference_models(args.out)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "compare.json").write_text(json.dumps(rows, indent=2) + "\n", "utf-8")
        return
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
