"""Privacy-utility table: test accuracy at epsilon in {1, 3, 8, inf} per model.

CNN on ``digits``, MLP on ``arrests``, the RNN and MiniLM text classifiers on a built-in text
set. Each private run uses ``--target-epsilon`` (noise chosen so the planned epochs spend it,
delta = 1/(10 n)); inf is the non-private twin with the same hyper-parameters.

    python benchmarks/privacy_utility.py                          # everything, full size
    python benchmarks/privacy_utility.py --models cnn mlp rnn --text-rows 4000   # CPU-sized
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

EPSILONS = (1.0, 3.0, 8.0, None)
# model -> (dataset, TrainSpec fields); DP-friendly: large batches, higher learning rates.
SETTINGS = {
    "cnn": ("digits", {"arch": "cnn", "epochs": 15, "batch_size": 64, "learning_rate": 3e-3}),
    "mlp": ("arrests", {"arch": "mlp", "epochs": 15, "batch_size": 128, "learning_rate": 3e-3}),
    "rnn": (
        "text",
        {"arch": "rnn", "epochs": 8, "batch_size": 64, "learning_rate": 5e-3, "max_length": 32},
    ),
    "minilm": (
        "text",
        {
            "arch": "transformer",
            "epochs": 2,
            "batch_size": 32,
            "learning_rate": 5e-4,
            "max_length": 32,
            "train_layers": 2,
        },
    ),
}


def run(
    model: str, epsilon: float | None, table, out: Path, accountant: str, epochs: int | None
) -> dict:
    from models.privacy import PrivacySpec
    from models.train import TrainSpec, train

    _, fields = SETTINGS[model]
    fields = {**fields, "epochs": epochs or fields["epochs"]}
    privacy = PrivacySpec(target_epsilon=epsilon, accountant=accountant) if epsilon else None
    spec = TrainSpec(label=table.spec.label, privacy=privacy, patience=100, **fields)
    start = time.perf_counter()
    record = train(table, spec, out, force=True, progress=False).record
    return {
        "model": model,
        "data": table.source,
        "rows": len(table.frame),
        "epsilon_target": epsilon,
        "epsilon": record["privacy"].get("epsilon"),
        "noise_multiplier": record["privacy"].get("noise_multiplier"),
        "test_accuracy": record["test"]["accuracy"],
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(SETTINGS))
    parser.add_argument("--text-data", default="tweets-sentiment")
    parser.add_argument("--text-rows", type=int, default=None, help="subsample the text set")
    parser.add_argument("--accountant", default="prv")
    parser.add_argument("--epochs", type=int, default=None, help="override every model's epochs")
    parser.add_argument("--out", type=Path, default=None, help="write rows as JSON lines")
    args = parser.parse_args()
    from models.data import LoadedTable, load_table

    rows = []
    for model in args.models:
        dataset, _ = SETTINGS[model]
        table = load_table(args.text_data if dataset == "text" else dataset)
        if dataset == "text" and args.text_rows:
            frame = table.frame.sample(n=args.text_rows, random_state=0).reset_index(drop=True)
            table = LoadedTable(frame, table.source, table.sha256, table.spec)
        for epsilon in EPSILONS:
            with tempfile.TemporaryDirectory() as tmp:
                row = run(model, epsilon, table, Path(tmp) / "m", args.accountant, args.epochs)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print("\nmodel   eps=1   eps=3   eps=8   eps=inf")
    for model in args.models:
        accs = [f"{r['test_accuracy']:.3f}" for r in rows if r["model"] == model]
        print(f"{model:7} " + "   ".join(accs))


if __name__ == "__main__":
    main()
