"""Distillation and compression: parameters, size on disk, CPU latency and accuracy.

For each workload a teacher is trained with `rai train`'s path, a student with at most a
quarter of its parameters is distilled from it (`rai distill`'s path, on the teacher's split),
and the teacher is compressed to int8 and pruned (`rai compress`'s path). Accuracy is on the
teacher's held-out test split, the same rows for all four models. Latency is CPU milliseconds
per row scored alone (batch of one) on one thread: the median of interleaved rounds over the
first 64 test rows, all four models in turn within each round.

    python benchmarks/distillation.py                             # adult, mnist-5k, tweets
    python benchmarks/distillation.py --workloads adult --quick   # a smoke run

Workloads: ``adult`` (MLP 64-32 -> MLP 16), ``mnist-5k`` (CNN, fully connected width 128 ->
16), ``tweets`` (MiniLM-L6 fine-tuned on a labelled subset of ``tweets-sentiment`` -> an LSTM,
with more tweets as unlabelled rows only the teacher labels).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import markdown_table, preamble  # noqa: E402

LATENCY_ROWS, LATENCY_ROUNDS, SPARSITY = 64, 5, 0.5
LABELS = {"adult": "income_per_year", "mnist-5k": "digit", "tweets": "sentiment"}
#: The groups each model is compared with the teacher on: adult's sex and race (and their
#: intersection); for digits and tweets, which have no demographic column, the classes
#: (where compression hurts rare examples first).
GROUPS = {"adult": ("sex", "race"), "mnist-5k": ("digit",), "tweets": ("sentiment",)}
# workload -> (dataset, teacher fields, student fields, distillation fields)
WORKLOADS = {
    "adult": (
        "adult",
        {"arch": "mlp", "hidden": (64, 32), "epochs": 20},
        {"arch": "mlp", "hidden": (16,), "epochs": 20},
        {"temperature": 2.0, "teacher_weight": 0.5},
    ),
    "mnist-5k": (
        "mnist-5k",
        {"arch": "cnn", "epochs": 10},
        {"arch": "cnn", "cnn_hidden": 16, "epochs": 10},
        {"temperature": 4.0, "teacher_weight": 0.7},
    ),
    "tweets": (
        "tweets-sentiment",
        {
            "arch": "transformer",
            "epochs": 2,
            "batch_size": 32,
            "learning_rate": 1e-4,
            "max_length": 32,
            "train_layers": 2,
            "text": "text",
        },
        {"arch": "rnn", "text": "text", "epochs": 10, "max_length": 32, "learning_rate": 3e-3},
        {"temperature": 2.0, "teacher_weight": 0.7},
    ),
}


def _subset(dataset: str, rows: int | None, unlabelled: int, where: Path) -> tuple:
    """The workload's table (its first ``rows`` after a seeded shuffle, as Parquet so that its
    checkpoints record a real source) and a file of ``unlabelled`` further rows, label dropped."""
    from raikit.models.data import load_table

    table = load_table(dataset)
    if rows is None:
        return table, None
    frame = table.frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    path, extra = where / f"{dataset}.parquet", None
    frame.iloc[:rows].to_parquet(path, index=False)
    if unlabelled:
        extra = where / f"{dataset}-unlabelled.parquet"
        rest = frame.iloc[rows : rows + unlabelled].drop(columns=table.spec.label)
        rest.to_parquet(extra, index=False)
    loaded = load_table(str(path))
    return loaded, extra


def _latency(models: dict, frame) -> dict[str, float]:
    """CPU ms per row, batch of one, models interleaved within each round; median of rounds."""
    import torch

    from raikit.models.inputs import encode_inputs

    inputs = {
        name: encode_inputs(frame.iloc[:LATENCY_ROWS], m.config["inputs"], m.checkpoint.path)
        for name, m in models.items()
    }
    rounds: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for round_ in range(LATENCY_ROUNDS + 1):  # the first is a warm-up
            for name, model in models.items():
                tensors = inputs[name]
                started = time.perf_counter()
                for i in range(len(tensors[0])):
                    model.module(*[t[i : i + 1] for t in tensors])
                if round_:
                    rounds[name].append((time.perf_counter() - started) * 1000 / len(tensors[0]))
    return {name: statistics.median(times) for name, times in rounds.items()}


def _worst_groups(models: dict, frame, label: str, columns: tuple[str, ...]) -> dict:
    """Each model against the teacher on the same test rows (the comparison of
    ``rai audit --baseline``): the group, among those of at least 30 rows, whose accuracy
    changed most for the worse, with its paired 95% bootstrap interval."""
    from raikit.audit.comparison import compare_decisions
    from raikit.audit.groups import fit_groups
    from raikit.audit.predictor import ModelPredictor
    from raikit.audit.runner import decide
    from raikit.models.schema import label_text

    classes = None
    decisions = {}
    for name, model in models.items():
        predictor = ModelPredictor(model.checkpoint.path, model, model.config["classes"])
        classes = list(predictor.classes)
        decisions[name] = decide(predictor.predict_proba(frame), 0.5)
    index = {c: i for i, c in enumerate(classes)}
    y_true = frame[label].map(label_text).map(index).to_numpy()
    groups = frame[list(columns)].astype(str).reset_index(drop=True)
    attributes = fit_groups(groups).attributes(groups, intersections=True, min_groups=0)
    worst = {}
    for name in models:
        if name == "teacher":
            continue
        _, compared, _ = compare_decisions(
            y_true, decisions["teacher"], decisions[name], attributes, n_classes=len(classes)
        )
        candidates = [g for a in compared for g in a.groups if g.compared]
        group = min(candidates, key=lambda g: g.metrics["accuracy"].change.value)
        change = group.metrics["accuracy"].change
        worst[name] = {
            "group": group.label,
            "rows": group.count,
            "change": round(change.value, 4),
            "lower": round(change.lower, 4),
            "upper": round(change.upper, 4),
        }
    return worst


def run(workload: str, args, where: Path) -> list[dict]:
    import torch

    from raikit.models.compress import compress
    from raikit.models.distill import Distillation
    from raikit.models.inference import load_model
    from raikit.models.train import TrainSpec, train

    dataset, teacher_fields, student_fields, distill_fields = WORKLOADS[workload]
    rows = args.text_rows if workload == "tweets" else args.rows
    unlabelled = args.unlabelled if workload == "tweets" else 0
    table, extra = _subset(dataset, rows, unlabelled, where)
    label = LABELS[workload]
    epochs = {"epochs": 1} if args.quick else {}
    started = time.perf_counter()
    teacher = train(
        table, TrainSpec(label=label, **teacher_fields | epochs), where / "teacher", progress=False
    )
    teacher_seconds = time.perf_counter() - started
    extra = None if extra is None else str(extra)
    distillation = Distillation(teacher=str(teacher.path), unlabelled=extra, **distill_fields)
    started = time.perf_counter()
    student = train(
        table,
        TrainSpec(label=label, distillation=distillation, **student_fields | epochs),
        where / "student",
        progress=False,
    )
    student_seconds = time.perf_counter() - started
    int8 = compress(teacher.path, where / "int8", int8=True)
    pruned = compress(teacher.path, where / "pruned", sparsity=SPARSITY)
    checkpoints = {"teacher": teacher, "student": student, "int8": int8, "pruned": pruned}
    models = {name: load_model(c.path) for name, c in checkpoints.items()}
    test_rows = table.frame.iloc[teacher.split["test"]]
    latency = _latency(models, test_rows)
    worst = _worst_groups(models, test_rows, label, GROUPS[workload])
    results = []
    for name, checkpoint in checkpoints.items():
        state = models[name].module.state_dict()
        weights = [t for t in state.values() if torch.is_tensor(t) and t.is_floating_point()]
        facts = checkpoint.record.get("compression") or {}
        results.append(
            {
                "workload": workload,
                "data": f"{dataset} ({len(table.frame)} rows"
                + (f" + {unlabelled} unlabelled" if extra else "")
                + f", test {len(test_rows)})",
                "model": name,
                "architecture": checkpoint.config["architecture"],
                "parameters": facts.get("parameters") or sum(t.numel() for t in state.values()),
                "nonzero_float_weights": int(sum(int((w != 0).sum()) for w in weights)),
                "size_bytes": (checkpoint.path / "model.safetensors").stat().st_size,
                "latency_ms_per_row": round(latency[name], 4),
                "test_accuracy": checkpoint.record["test"]["accuracy"],
                "worst_group": worst.get(name),
                "train_seconds": round(
                    {"teacher": teacher_seconds, "student": student_seconds}.get(name, 0), 1
                ),
            }
        )
    return results


def table(results: list[dict]) -> str:
    header = [
        "workload",
        "model",
        "parameters",
        "share of teacher's",
        "size on disk",
        "ms per row (CPU, 1 thread)",
        "test accuracy",
        "share of teacher's accuracy",
        "worst group's accuracy change vs the teacher [95%]",
    ]
    teacher = {r["workload"]: r for r in results if r["model"] == "teacher"}
    rows = []
    for r in results:
        t = teacher[r["workload"]]
        nonzero = (
            f" ({r['nonzero_float_weights']:,} nonzero float)" if r["model"] == "pruned" else ""
        )
        rows.append(
            [
                r["workload"],
                f"{r['model']} ({r['architecture']})",
                f"{r['parameters']:,}{nonzero}",
                f"{r['parameters'] / t['parameters']:.3f}",
                f"{r['size_bytes'] / 1024:,.1f} KiB",
                f"{r['latency_ms_per_row']:.3f}",
                f"{r['test_accuracy']:.4f}",
                f"{r['test_accuracy'] / t['test_accuracy']:.3f}",
                _worst_text(r["worst_group"]),
            ]
        )
    return markdown_table(header, rows)


def _worst_text(worst: dict | None) -> str:
    if worst is None:
        return ""
    return (
        f"{worst['group']} (n={worst['rows']:,}): {worst['change']:+.3f} "
        f"[{worst['lower']:+.3f}, {worst['upper']:+.3f}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--rows", type=int, default=None, help="subsample adult / mnist-5k")
    parser.add_argument("--text-rows", type=int, default=3000, help="labelled tweets")
    parser.add_argument("--unlabelled", type=int, default=6000, help="unlabelled tweets")
    parser.add_argument("--quick", action="store_true", help="one epoch each (a smoke run)")
    parser.add_argument("--out", type=Path, default=None, help="write rows as JSON lines")
    args = parser.parse_args()
    import torch

    from raikit.models.threads import set_threads

    torch.set_num_threads(1)
    set_threads(1)
    results = []
    for workload in args.workloads:
        with tempfile.TemporaryDirectory() as tmp:
            rows = run(workload, args, Path(tmp))
        for row in rows:
            print(json.dumps(row), flush=True)
        results += rows
    print(preamble())
    print(table(results))
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in results))


if __name__ == "__main__":
    main()
